package io.vqwen.engine.hub;

import java.io.IOException;
import java.nio.file.Path;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.io.TempDir;

/** A fresh local Hub serving the bundled fixture, and an empty cache, for each test. */
abstract class FakeHubTest {
    @TempDir
    Path cache;
    FakeHub hub;

    @BeforeEach
    void startHub() throws IOException {
        hub = new FakeHub(FakeHub.fixture());
    }

    @AfterEach
    void stopHub() {
        hub.close();
    }

    HubOptions options() {
        return new HubOptions(hub.endpoint(), null, cache, false, 4, null);
    }
}
