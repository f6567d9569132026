package io.vqwen.helm;

import static org.junit.jupiter.api.Assertions.fail;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/** The Helm 3 binary: HELM_BIN, else helm/.tools/helm as installed by helm/install-helm.sh. */
final class Helm {

    /** What a helm command printed and how it exited. */
    record Result(int exitCode, String stdout, String stderr) {
        boolean ok() {
            return exitCode == 0;
        }
    }

    static final Path REPO = Path.of(System.getProperty("vqwen.repo.root", "..")).toAbsolutePath().normalize();
    static final Path CHART = REPO.resolve("helm/vqwen");
    static final String NAMESPACE = "vqwen-test";
    static final String RELEASE = "vq";

    private final Path binary;

    private Helm(Path binary) {
        this.binary = binary;
    }

    /** Fails (never skips) when the binary is absent: CI installs it before the tests run. */
    static Helm locate() {
        String fromEnv = System.getenv("HELM_BIN");
        Path binary = fromEnv != null && !fromEnv.isBlank()
                ? Path.of(fromEnv)
                : REPO.resolve("helm/.tools/helm");
        if (!Files.isRegularFile(binary) || !Files.isExecutable(binary)) {
            fail("No Helm binary at " + binary + (fromEnv != null ? " (from HELM_BIN)" : "")
                    + ". Run helm/install-helm.sh, which installs Helm 3.17.1 into helm/.tools/helm,"
                    + " or point HELM_BIN at a Helm 3 binary.");
        }
        return new Helm(binary);
    }

    Result run(List<String> args) {
        List<String> command = new ArrayList<>();
        command.add(binary.toString());
        command.addAll(args);
        try {
            Path out = Files.createTempFile("helm-out", ".txt");
            Path err = Files.createTempFile("helm-err", ".txt");
            try {
                // Helm keeps caches and plugins under these; point them at temp dirs so a bare CI home works.
                ProcessBuilder pb = new ProcessBuilder(command)
                        .directory(REPO.toFile())
                        .redirectOutput(out.toFile())
                        .redirectError(err.toFile());
                Path home = Files.createTempDirectory("helm-home");
                pb.environment().put("HELM_CACHE_HOME", home.resolve("cache").toString());
                pb.environment().put("HELM_CONFIG_HOME", home.resolve("config").toString());
                pb.environment().put("HELM_DATA_HOME", home.resolve("data").toString());
                Process p = pb.start();
                if (!p.waitFor(120, TimeUnit.SECONDS)) {
                    p.destroyForcibly();
                    fail("helm did not finish within 120 s: " + String.join(" ", command));
                }
                return new Result(p.exitValue(),
                        Files.readString(out, StandardCharsets.UTF_8),
                        Files.readString(err, StandardCharsets.UTF_8));
            } finally {
                Files.deleteIfExists(out);
                Files.deleteIfExists(err);
            }
        } catch (IOException e) {
            throw new AssertionError("could not run " + String.join(" ", command), e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AssertionError("interrupted while running helm", e);
        }
    }

    /** helm template of the chart with an optional values file and --set overrides. */
    Result template(Path valuesFile, String... sets) {
        List<String> args = new ArrayList<>(List.of("template", RELEASE, CHART.toString(), "--namespace", NAMESPACE));
        if (valuesFile != null) {
            args.add("--values");
            args.add(valuesFile.toString());
        }
        for (String s : sets) {
            args.add("--set");
            args.add(s);
        }
        return run(args);
    }

    Result lint(Path valuesFile, String... sets) {
        List<String> args = new ArrayList<>(List.of("lint", "--strict", CHART.toString(), "--namespace", NAMESPACE));
        if (valuesFile != null) {
            args.add("--values");
            args.add(valuesFile.toString());
        }
        for (String s : sets) {
            args.add("--set");
            args.add(s);
        }
        return run(args);
    }
}
