package io.vqwen.cli;

import java.io.PrintWriter;
import picocli.CommandLine;
import picocli.CommandLine.Command;

/** {@code ./vqwen}: the one-shot CLI and the local mesh launcher. */
@Command(name = "vqwen", mixinStandardHelpOptions = true, version = "vqwen 0.1.0",
        description = "Serve vqwen3-4b (LLaVA: CLIP ViT + projector + Qwen3) from the JVM.",
        subcommands = {CaptionCommand.class, UpCommand.class, PullCommand.class, BenchCpuCommand.class, MakeCheckpointCommand.class, CommandLine.HelpCommand.class})
public final class Main {
    public static void main(String[] args) {
        System.exit(run(args));
    }

    /** Runs a command line; bad input ends with one clear line on stderr and a non-zero status. */
    public static int run(String... args) {
        CommandLine cli = new CommandLine(new Main());
        cli.setExecutionExceptionHandler((e, cmd, parsed) -> {
            PrintWriter err = cmd.getErr();
            String msg = e.getMessage() == null ? e.toString() : e.getMessage();
            err.println("vqwen " + cmd.getCommandName() + ": error: " + msg.replace('\n', ' '));
            err.flush();
            if (System.getenv("VQWEN_DEBUG") != null) e.printStackTrace(err);
            return 2;
        });
        return cli.execute(args);
    }
}
