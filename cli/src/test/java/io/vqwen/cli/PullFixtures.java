package io.vqwen.cli;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.stream.Stream;

/** The bundled fixture, and a Hugging Face cache holding it as huggingface-cli leaves a download. */
final class PullFixtures {

    static final String COMMIT = "0123456789abcdef0123456789abcdef01234567";

    private PullFixtures() {
    }

    static Path fixture() {
        for (Path p = Path.of("").toAbsolutePath(); p != null; p = p.getParent()) {
            if (Files.isDirectory(p.resolve("testdata/tiny-llava"))) {
                return p.resolve("testdata/tiny-llava");
            }
        }
        throw new IllegalStateException("testdata/tiny-llava not found above " + Path.of("").toAbsolutePath());
    }

    /** {@code models--org--name} with blobs named by SHA-256, a snapshot of relative symlinks, and refs/main. */
    static Path handMadeCache(Path cache) throws IOException {
        Path repo = cache.resolve("models--org--name");
        Path snapshot = repo.resolve("snapshots").resolve(COMMIT);
        Files.createDirectories(repo.resolve("blobs"));
        Files.createDirectories(snapshot);
        try (Stream<Path> files = Files.list(fixture())) {
            for (Path f : files.toList()) {
                Path blob = repo.resolve("blobs").resolve(sha256(Files.readAllBytes(f)));
                Files.copy(f, blob);
                Files.createSymbolicLink(snapshot.resolve(f.getFileName()), Path.of("../../blobs").resolve(blob.getFileName()));
            }
        }
        Files.createDirectories(repo.resolve("refs"));
        Files.writeString(repo.resolve("refs/main"), COMMIT);
        return cache;
    }

    static String sha256(byte[] bytes) {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(bytes));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }
}
