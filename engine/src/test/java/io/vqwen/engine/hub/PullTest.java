package io.vqwen.engine.hub;

import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** A pull against a local Hub gives huggingface_hub's cache layout, which later resolves with no network. */
class PullTest extends FakeHubTest {

    final ByteArrayOutputStream log = new ByteArrayOutputStream();

    @Override
    HubOptions options() {
        return new HubOptions(hub.endpoint(), null, cache, false, 4, new PrintStream(log, true, StandardCharsets.UTF_8));
    }

    @Test
    void pullBuildsTheHuggingFaceCacheLayoutAndResolvesOfflineAfterwards() throws IOException {
        Path snapshot = ModelResolver.pull("org/name", options());

        Path repoDir = cache.resolve("models--org--name");
        assertEquals(repoDir.resolve("snapshots").resolve(hub.commit()), snapshot);
        assertEquals(hub.commit(), Files.readString(repoDir.resolve("refs/main")), "refs/main holds the bare commit hash");
        for (FakeHub.HubFile f : hub.files().values()) {
            Path pointer = snapshot.resolve(f.name());
            assertTrue(Files.isSymbolicLink(pointer), f.name() + " is a symlink");
            // LFS files are stored under their SHA-256, small files under their git blob hash, as huggingface_hub does.
            String etag = f.lfs() ? f.sha256() : f.gitSha1();
            assertEquals(Path.of("../../blobs/" + etag), Files.readSymbolicLink(pointer), f.name());
            assertEquals(-1, Files.mismatch(pointer, FakeHub.fixture().resolve(f.name())), f.name() + " is byte-identical");
        }
        try (Stream<Path> blobs = Files.list(repoDir.resolve("blobs"))) {
            List<String> names = blobs.map(p -> p.getFileName().toString()).toList();
            assertEquals(hub.files().size(), names.size(), "one blob per file, no leftovers: " + names);
            assertTrue(names.stream().noneMatch(n -> n.endsWith(".incomplete")));
        }

        // The token must not reach the CDN host; each LFS file went through a redirect to it.
        long cdnGets = hub.requests().stream().filter(r -> r.path().startsWith("/cdn/")).count();
        assertEquals(hub.files().values().stream().filter(FakeHub.HubFile::lfs).count(), cdnGets);
        assertTrue(hub.requests().stream().filter(r -> r.path().startsWith("/cdn/")).allMatch(r -> r.host().equals("localhost")));

        String out = log.toString(StandardCharsets.UTF_8);
        assertTrue(out.contains("model-00001-of-00002.safetensors: 9.7 MB, sha256 verified"), out);
        assertTrue(out.contains("config.json: 1.6 kB, git sha1 verified"), out);

        hub.close(); // from here on, no network
        assertEquals(snapshot, ModelResolver.resolve("org/name", options()));
        assertEquals(snapshot, ModelResolver.resolve("org/name", options().withOffline(true)));
        assertEquals(snapshot, ModelResolver.resolve("org/name@" + hub.commit(), options().withOffline(true)));
    }

    @Test
    void aSecondPullFetchesNothingAndTheTokenGoesOnlyToTheHub() throws IOException {
        hub.requireToken("hf_secret");
        HubOptions withToken = options().withToken("hf_secret");
        ModelResolver.pull("org/name", withToken);
        int before = hub.requests().size();
        assertTrue(hub.requests().stream().filter(r -> !r.path().startsWith("/cdn/"))
                .allMatch(r -> "Bearer hf_secret".equals(r.authorization())));
        assertTrue(hub.requests().stream().filter(r -> r.path().startsWith("/cdn/")).allMatch(r -> r.authorization() == null),
                "pre-signed CDN links must not see the token");

        Path again = ModelResolver.pull("org/name", withToken);
        List<FakeHub.Request> second = hub.requests().subList(before, hub.requests().size());
        assertEquals(1, second.size(), "only the file list is asked again: " + second);
        assertTrue(second.getFirst().path().startsWith("/api/models/org/name/revision/main"));
        assertEquals(hub.commit(), again.getFileName().toString());
    }

    @Test
    void aSnapshotWithALostFileIsCompletedWithoutRefetchingTheRest() throws IOException {
        Path snapshot = ModelResolver.pull("org/name", options());
        Files.delete(snapshot.resolve("model-00002-of-00002.safetensors"));
        Path blob = cache.resolve("models--org--name/blobs").resolve(hub.files().get("model-00002-of-00002.safetensors").sha256());
        Files.delete(blob);
        int before = hub.requests().size();

        // resolve sees the checkpoint is incomplete and pulls; only the lost file travels.
        assertEquals(snapshot, ModelResolver.resolve("org/name", options()));
        List<String> fetched = hub.downloadsSince(before).stream().map(r -> hub.fileOf(r.path())).toList();
        assertEquals(List.of("model-00002-of-00002.safetensors"), fetched);
        assertEquals(-1, Files.mismatch(snapshot.resolve("model-00002-of-00002.safetensors"),
                FakeHub.fixture().resolve("model-00002-of-00002.safetensors")));
    }
}
