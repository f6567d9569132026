package io.vqwen.engine.hub;

import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** A download cut off halfway keeps its partial blob, and the next pull asks only for the rest. */
class ResumeTest extends FakeHubTest {

    static final String SHARD = "model-00001-of-00002.safetensors";


    Path blobs() {
        return cache.resolve("models--org--name/blobs");
    }

    @Test
    void aDroppedConnectionResumesFromTheOffsetOnTheNextPull() throws IOException {
        FakeHub.HubFile shard = hub.files().get(SHARD);
        long cut = shard.content().length / 2;
        hub.dropConnectionOnce(SHARD, cut);

        HubException e = assertThrows(HubException.class, () -> ModelResolver.pull("org/name", options()));
        assertEquals(HubException.Reason.NETWORK, e.reason());
        assertTrue(e.getMessage().contains(SHARD) && e.getMessage().contains("run the pull again to resume"), e.getMessage());

        Path part = blobs().resolve(shard.sha256() + ".incomplete");
        long kept = Files.size(part);
        assertTrue(kept > 0 && kept <= cut, "kept " + kept + " of the " + cut + " bytes sent");
        assertFalse(Files.exists(blobs().resolve(shard.sha256())));
        assertFalse(Files.exists(cache.resolve("models--org--name/snapshots")), "nothing half-written in the snapshot");
        assertFalse(Files.exists(cache.resolve("models--org--name/refs/main")));

        int before = hub.requests().size();
        Path snapshot = ModelResolver.pull("org/name", options());

        List<FakeHub.Request> fetched = hub.downloadsSince(before);
        assertEquals(1, fetched.size(), "the other files were kept from the first pull: " + fetched);
        assertEquals(SHARD, hub.fileOf(fetched.getFirst().path()));
        assertEquals("bytes=" + kept + "-", fetched.getFirst().range(), "resumed from the partial file's length");
        assertEquals(-1, Files.mismatch(snapshot.resolve(SHARD), FakeHub.fixture().resolve(SHARD)));
        assertFalse(Files.exists(part));
        assertTrue(CheckpointReport.of(snapshot).complete());
    }

    @Test
    void aStalledConnectionIsAbandonedAndResumedNextTime() throws IOException {
        FakeHub.HubFile shard = hub.files().get(SHARD);
        hub.stallOnce(SHARD, 1_000_000);
        RepoId repo = RepoId.parse("org/name");

        long t0 = System.nanoTime();
        HubException e = assertThrows(HubException.class,
                () -> new SnapshotDownload(options(), repo, Duration.ofMillis(500), p -> -1).run());
        double seconds = (System.nanoTime() - t0) / 1e9;
        assertEquals(HubException.Reason.NETWORK, e.reason(), e.getMessage());
        assertTrue(e.getMessage().contains("no data for 0.5 s"), e.getMessage());
        assertTrue(seconds < 10, "gave up after " + seconds + " s, not the server's 60 s stall");
        long kept = Files.size(blobs().resolve(shard.sha256() + ".incomplete"));
        assertTrue(kept > 0 && kept <= 1_000_000, "kept " + kept);

        int before = hub.requests().size();
        Path snapshot = new SnapshotDownload(options(), repo, Duration.ofMillis(500), p -> -1).run();
        assertEquals("bytes=" + kept + "-", hub.downloadsSince(before).getFirst().range());
        assertEquals(-1, Files.mismatch(snapshot.resolve(SHARD), FakeHub.fixture().resolve(SHARD)));
    }

    @Test
    void aPartialFileLongerThanTheBlobIsStartedOver() throws IOException {
        FakeHub.HubFile shard = hub.files().get("model-00002-of-00002.safetensors");
        Files.createDirectories(blobs());
        Files.write(blobs().resolve(shard.sha256() + ".incomplete"), new byte[shard.content().length + 10]);

        Path snapshot = ModelResolver.pull("org/name", options());
        assertEquals(-1, Files.mismatch(snapshot.resolve(shard.name()), FakeHub.fixture().resolve(shard.name())));
    }
}
