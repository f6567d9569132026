package io.vqwen.cli;

import io.vqwen.engine.tools.RandomCheckpointWriter;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code ./vqwen make-random-checkpoint}: a full-size checkpoint of seeded random bf16 weights for benchmarks. */
@Command(name = "make-random-checkpoint", mixinStandardHelpOptions = true,
        description = "Write a full-size random-weight checkpoint (e.g. vqwen3-4b, 8.7 GB) in the Hugging Face layout.")
public final class MakeCheckpointCommand implements Callable<Integer> {
    @Option(names = "--shape", defaultValue = "vqwen3-4b")
    String shape;

    @Option(names = "--out", required = true, description = "Output directory (keep it out of git, e.g. models/).")
    Path out;

    @Option(names = "--seed", defaultValue = "1234")
    long seed;

    @Override
    public Integer call() throws Exception {
        RandomCheckpointWriter.write(RandomCheckpointWriter.Shape.named(shape), out, CaptionCommand.defaultModel(), seed);
        System.out.println("wrote " + out);
        return 0;
    }
}
