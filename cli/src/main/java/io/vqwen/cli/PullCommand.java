package io.vqwen.cli;

import io.vqwen.engine.hub.HubException;
import io.vqwen.engine.hub.HubOptions;
import io.vqwen.engine.hub.ModelResolver;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

import java.io.PrintStream;
import java.net.URI;
import java.nio.file.Path;
import java.util.Map;
import java.util.concurrent.Callable;

/**
 * {@code vqwen pull org/name[@rev]}: fetches a model into the Hugging Face cache, the same one huggingface-cli and
 * transformers use, and prints its snapshot directory (progress goes to stderr, so {@code $(vqwen pull ...)} works).
 */
@Command(name = "pull", mixinStandardHelpOptions = true,
        description = {"Download a model from the Hugging Face Hub into the Hugging Face cache and print its snapshot directory.",
                "Resumes interrupted downloads and verifies every file. Environment: HF_ENDPOINT, HF_TOKEN, HF_HUB_CACHE, "
                        + "HF_HOME, HF_HUB_OFFLINE (1: check the cache only)."})
public final class PullCommand implements Callable<Integer> {

    /** Exit status of a failed download or a model the cache lacks offline. */
    static final int EXIT_FAILED = 1;
    /** picocli's exit status for bad usage. */
    static final int EXIT_USAGE = 2;

    @Parameters(index = "0", paramLabel = "org/name[@rev]", description = "Hub model id, optionally with a branch, tag or commit.")
    String model;

    @Option(names = "--token", paramLabel = "T", description = "Token for gated or private models (default: $HF_TOKEN, else the huggingface-cli login).")
    String token;

    @Option(names = "--endpoint", paramLabel = "URL", description = "Hub or mirror URL (default: $HF_ENDPOINT, else https://huggingface.co).")
    URI endpoint;

    @Option(names = "--cache-dir", paramLabel = "DIR", description = "Hugging Face hub cache (default: $HF_HUB_CACHE, else $HF_HOME/hub, else ~/.cache/huggingface/hub).")
    Path cacheDir;

    @Spec
    CommandSpec spec;

    private final Map<String, String> env;
    private final PrintStream progress;

    public PullCommand() {
        this(System.getenv(), System.err);
    }

    /** For tests: a given environment, and progress lines into {@code progress}. */
    PullCommand(Map<String, String> env, PrintStream progress) {
        this.env = env;
        this.progress = progress;
    }

    /** The environment's options, with the command line's flags taking precedence. */
    HubOptions options() {
        HubOptions options = HubOptions.fromEnvironment(env).withProgress(progress);
        if (endpoint != null) {
            options = options.withEndpoint(endpoint);
        }
        if (token != null) {
            options = options.withToken(token);
        }
        if (cacheDir != null) {
            options = options.withCacheDir(cacheDir);
        }
        return options;
    }

    @Override
    public Integer call() {
        try {
            Path snapshot = ModelResolver.pull(model, options());
            spec.commandLine().getOut().println(snapshot);
            spec.commandLine().getOut().flush();
            return 0;
        } catch (IllegalArgumentException e) {
            spec.commandLine().getErr().println("vqwen pull: " + e.getMessage());
            return EXIT_USAGE;
        } catch (HubException e) {
            spec.commandLine().getErr().println("vqwen pull: " + e.getMessage());
            return EXIT_FAILED;
        } catch (java.io.IOException e) {
            spec.commandLine().getErr().println("vqwen pull: " + e.getClass().getSimpleName() + ": " + e.getMessage());
            return EXIT_FAILED;
        } finally {
            spec.commandLine().getErr().flush();
        }
    }
}
