package io.vqwen.engine.hub;

import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** One flipped byte is caught before the file reaches blobs/ or the snapshot. */
class VerificationTest extends FakeHubTest {


    @Test
    void aCorruptedByteInAnLfsFileFailsItsSha256AndNothingLands() throws IOException {
        FakeHub.HubFile shard = hub.files().get("model-00002-of-00002.safetensors");
        hub.corrupt(shard.name(), 123_456);

        HubException e = assertThrows(HubException.class, () -> ModelResolver.pull("org/name", options()));
        assertEquals(HubException.Reason.CHECKSUM, e.reason());
        assertTrue(e.getMessage().contains("checksum mismatch for " + shard.name()) && e.getMessage().contains(shard.sha256()),
                e.getMessage());
        Path blobs = cache.resolve("models--org--name/blobs");
        assertFalse(Files.exists(blobs.resolve(shard.sha256())), "the bad bytes never become a blob");
        assertFalse(Files.exists(blobs.resolve(shard.sha256() + ".incomplete")), "and are not kept for a resume");
        assertFalse(Files.exists(cache.resolve("models--org--name/snapshots")), "no snapshot while a file is bad");

        hub.corrupt(null, 0);
        Path snapshot = ModelResolver.pull("org/name", options());
        assertEquals(-1, Files.mismatch(snapshot.resolve(shard.name()), FakeHub.fixture().resolve(shard.name())));
    }

    @Test
    void aCorruptedSmallFileFailsItsGitBlobHash() throws IOException {
        FakeHub.HubFile config = hub.files().get("config.json");
        hub.corrupt(config.name(), 10);

        HubException e = assertThrows(HubException.class, () -> ModelResolver.pull("org/name", options()));
        assertEquals(HubException.Reason.CHECKSUM, e.reason());
        assertTrue(e.getMessage().contains("git sha1 " + config.gitSha1()), e.getMessage());
        assertFalse(Files.exists(cache.resolve("models--org--name/blobs").resolve(config.gitSha1())));
    }

    @Test
    void aCorruptedResumedPrefixIsCaughtToo() throws IOException {
        // The partial file from an earlier run went bad on disk; resuming after it must not bless it.
        FakeHub.HubFile shard = hub.files().get("model-00002-of-00002.safetensors");
        Path part = cache.resolve("models--org--name/blobs").resolve(shard.sha256() + ".incomplete");
        Files.createDirectories(part.getParent());
        byte[] prefix = java.util.Arrays.copyOf(shard.content(), 200_000);
        prefix[1000] ^= 0x40;
        Files.write(part, prefix);

        HubException e = assertThrows(HubException.class, () -> ModelResolver.pull("org/name", options()));
        assertEquals(HubException.Reason.CHECKSUM, e.reason());
        assertFalse(Files.exists(part));
        Path snapshot = ModelResolver.pull("org/name", options());
        assertEquals(-1, Files.mismatch(snapshot.resolve(shard.name()), FakeHub.fixture().resolve(shard.name())));
    }
}
