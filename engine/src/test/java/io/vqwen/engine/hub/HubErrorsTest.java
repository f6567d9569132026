package io.vqwen.engine.hub;

import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Each failure a user can meet says what happened and what to do, and leaves no half-written snapshot. */
class HubErrorsTest extends FakeHubTest {


    @Test
    void aPrivateModelNeedsAToken() throws IOException {
        hub.requireToken("hf_secret");

        HubException e = assertThrows(HubException.class, () -> ModelResolver.resolve("org/name", options()));
        assertEquals(HubException.Reason.UNAUTHORIZED, e.reason());
        assertTrue(e.getMessage().contains("gated or private: set HF_TOKEN or pass --token"), e.getMessage());
        HubException wrong = assertThrows(HubException.class,
                () -> ModelResolver.resolve("org/name", options().withToken("hf_wrong")));
        assertTrue(wrong.getMessage().contains("the token that was sent has no access"), wrong.getMessage());
        assertFalse(Files.exists(cache.resolve("models--org--name")), "nothing was written");

        Path snapshot = ModelResolver.resolve("org/name", options().withToken("hf_secret"));
        assertTrue(CheckpointReport.of(snapshot).complete());
    }

    @Test
    void anUnknownModelOrRevisionIs404WithItsName() {
        HubException model = assertThrows(HubException.class, () -> ModelResolver.resolve("org/nope", options()));
        assertEquals(HubException.Reason.NOT_FOUND, model.reason());
        assertTrue(model.getMessage().startsWith("no such model on the Hub: org/nope"), model.getMessage());

        HubException revision = assertThrows(HubException.class, () -> ModelResolver.resolve("org/name@v9", options()));
        assertEquals(HubException.Reason.NOT_FOUND, revision.reason());
        assertTrue(revision.getMessage().startsWith("no revision 'v9' in org/name"), revision.getMessage());
        assertFalse(Files.exists(cache.resolve("models--org--name")));
    }

    @Test
    void offlineWithoutTheModelFailsFastWithoutAnyRequest() {
        HubException e = assertThrows(HubException.class, () -> ModelResolver.resolve("org/name", options().withOffline(true)));
        assertEquals(HubException.Reason.OFFLINE, e.reason());
        assertTrue(e.getMessage().contains("is not in the Hugging Face cache at " + cache.toAbsolutePath())
                && e.getMessage().contains("HF_HUB_OFFLINE=1"), e.getMessage());
        assertThrows(HubException.class, () -> ModelResolver.pull("org/name", options().withOffline(true)));
        assertEquals(0, hub.requests().size(), "offline means no network at all");
    }

    @Test
    void offlineWithAnIncompleteSnapshotNamesWhatIsMissing() throws IOException {
        Path snapshot = ModelResolver.pull("org/name", options());
        Files.delete(snapshot.resolve("model-00002-of-00002.safetensors"));

        HubException e = assertThrows(HubException.class, () -> ModelResolver.resolve("org/name", options().withOffline(true)));
        assertTrue(e.getMessage().contains("missing model-00002-of-00002.safetensors (listed by model.safetensors.index.json)"),
                e.getMessage());
    }

    @Test
    void aHubThatCannotBeReachedSaysSo() throws IOException {
        URI dead = hub.endpoint();
        hub.close();
        HubException e = assertThrows(HubException.class,
                () -> ModelResolver.resolve("org/name", options().withEndpoint(dead)));
        assertEquals(HubException.Reason.NETWORK, e.reason());
        assertTrue(e.getMessage().startsWith("cannot reach " + dead) && e.getMessage().contains("HF_HUB_OFFLINE=1"),
                e.getMessage());
    }

    @Test
    void tooLittleDiskSpaceFailsBeforeTheFirstByte() throws IOException {
        RepoId repo = RepoId.parse("org/name");
        HubException e = assertThrows(HubException.class,
                () -> new SnapshotDownload(options(), repo, Duration.ofSeconds(60), dir -> 1_000_000).run());
        assertEquals(HubException.Reason.DISK_FULL, e.reason());
        assertTrue(e.getMessage().startsWith("No space left on device for org/name: it needs 22.5 MB more")
                && e.getMessage().contains("only 1.0 MB are free"), e.getMessage());
        assertTrue(hub.downloadsSince(0).isEmpty(), "no byte was fetched");
        try (var blobs = Files.list(cache.resolve("models--org--name/blobs"))) {
            assertEquals(0, blobs.count());
        }
    }

    @Test
    void aLocalDirectoryIsUsedAsItIsAndAMissingOneIsNamed() throws IOException {
        assertEquals(FakeHub.fixture(), ModelResolver.resolve(FakeHub.fixture().toString(), options()));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> ModelResolver.resolve("/no/such/dir", options()));
        assertEquals("model directory not found: /no/such/dir", e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> ModelResolver.resolve("./models/tiny", options()));
        assertEquals(0, hub.requests().size());
    }
}
