package io.vqwen.web;

import java.nio.file.Files;
import java.nio.file.Path;

/** Where the page lives: the gateway's static resources, served by Quarkus at {@code /}. */
final class WebPage {
    private WebPage() {
    }

    static Path repoRoot() {
        return Path.of(System.getProperty("vqwen.repo.root", "..")).toAbsolutePath().normalize();
    }

    static Path resources() {
        Path p = repoRoot().resolve("gateway/src/main/resources/META-INF/resources");
        if (!Files.isRegularFile(p.resolve("index.html"))) throw new IllegalStateException("no index.html under " + p);
        return p;
    }
}
