package io.vqwen.engine.hub;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The environment is read as huggingface_hub reads it, so both share one cache and one login. */
class HubOptionsTest {

    @TempDir
    Path home;

    @Test
    void defaultsAreTheHubAndTheStandardCache() {
        HubOptions o = HubOptions.fromEnvironment(Map.of());
        assertEquals(URI.create("https://huggingface.co"), o.endpoint());
        assertEquals(Path.of(System.getProperty("user.home"), ".cache/huggingface/hub"), o.cacheDir());
        assertFalse(o.offline());
        assertEquals(8, o.parallelDownloads());
    }

    @Test
    void cacheDirectoryPrecedenceIsHubCacheThenHfHomeThenXdg() {
        assertEquals(Path.of("/x/hub"), HubOptions.fromEnvironment(Map.of("XDG_CACHE_HOME", "/x2", "HF_HOME", "/h",
                "HF_HUB_CACHE", "/x/hub")).cacheDir());
        assertEquals(Path.of("/h/hub"), HubOptions.fromEnvironment(Map.of("XDG_CACHE_HOME", "/x2", "HF_HOME", "/h")).cacheDir());
        assertEquals(Path.of("/x2/huggingface/hub"), HubOptions.fromEnvironment(Map.of("XDG_CACHE_HOME", "/x2")).cacheDir());
    }

    @Test
    void endpointTokenAndOfflineComeFromTheEnvironment() {
        HubOptions o = HubOptions.fromEnvironment(Map.of("HF_ENDPOINT", "https://hf-mirror.com/", "HF_TOKEN", "hf_abc",
                "HF_HUB_OFFLINE", "1", "HF_HOME", home.toString()));
        assertEquals(URI.create("https://hf-mirror.com"), o.endpoint());
        assertEquals("hf_abc", o.token());
        assertTrue(o.offline());
        assertTrue(HubOptions.fromEnvironment(Map.of("HF_HUB_OFFLINE", "yes")).offline());
        assertFalse(HubOptions.fromEnvironment(Map.of("HF_HUB_OFFLINE", "0")).offline());
        assertFalse(o.toString().contains("hf_abc"), "the token stays out of logs: " + o);
    }

    @Test
    void theHuggingfaceCliLoginTokenIsUsedWhenHfTokenIsUnset() throws IOException {
        Files.writeString(home.resolve("token"), "hf_from_login\n");
        assertEquals("hf_from_login", HubOptions.fromEnvironment(Map.of("HF_HOME", home.toString())).token());
        assertEquals("hf_env", HubOptions.fromEnvironment(Map.of("HF_HOME", home.toString(), "HF_TOKEN", "hf_env")).token());
        assertNull(HubOptions.fromEnvironment(Map.of("HF_HOME", home.resolve("none").toString())).token());
    }

    @Test
    void repoIdsParseLikeTheHubs() {
        RepoId id = RepoId.parse("alpharomercoma/vqwen3-4b@refs/pr/1");
        assertEquals("alpharomercoma/vqwen3-4b", id.id());
        assertEquals("refs/pr/1", id.revision());
        assertEquals("models--alpharomercoma--vqwen3-4b", id.cacheFolderName());
        assertEquals("main", RepoId.parse("org/name").revision());
        for (String bad : new String[] {"name", "a/b/c", "org/na--me", "org/name.", "/abs/path", "./rel/x", "org/name@", "org/../x"}) {
            assertThrows(IllegalArgumentException.class, () -> RepoId.parse(bad), bad);
        }
    }
}
