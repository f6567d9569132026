package io.vqwen.engine.hub;

import io.vqwen.engine.hub.HubException.Reason;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;

/**
 * Turns a {@code --model} argument into a checkpoint directory, the way transformers' {@code from_pretrained} does:
 * a local directory is used as it is; a Hub id {@code org/name[@revision]} is looked up in the Hugging Face cache and,
 * when it is not there, downloaded into it.
 */
public final class ModelResolver {

    private ModelResolver() {
    }

    /**
     * A local directory (returned as is, must exist: else IllegalArgumentException "model directory not found: ...") or
     * a Hub id org/name[@revision]: looked up in the HF cache ($HF_HUB_CACHE, $HF_HOME/hub,
     * ~/.cache/huggingface/hub; layout models--org--name/{refs,blobs,snapshots}); if absent and not offline
     * (HF_HUB_OFFLINE=1), downloaded into that cache. Returns the snapshot directory.
     */
    public static Path resolve(String model) throws IOException {
        return resolve(model, HubOptions.fromEnvironment());
    }

    /** As {@link #resolve(String)}, with explicit options. A complete cached snapshot is used without any network. */
    public static Path resolve(String model, HubOptions options) throws IOException {
        if (model == null || model.isBlank()) {
            throw new IllegalArgumentException("model directory not found: (empty --model)");
        }
        Path local = Path.of(model);
        if (Files.isDirectory(local)) {
            return local;
        }
        if (!RepoId.looksLikeRepoId(model)) {
            throw new IllegalArgumentException("model directory not found: " + local.toAbsolutePath()
                    + (Files.exists(local) ? " (it is a file, not a directory)" : ""));
        }
        RepoId repo = RepoId.parse(model);
        Optional<Path> cached = cachedSnapshot(repo, options);
        if (cached.isPresent()) {
            return cached.get();
        }
        if (options.offline()) {
            throw offlineMiss(repo, options, true);
        }
        return new SnapshotDownload(options, repo).run();
    }

    /**
     * {@code vqwen pull}: asks the Hub which commit the revision names now and fetches whatever of it the cache lacks
     * (nothing, when it is all there). Offline, it only confirms the cache has it.
     */
    public static Path pull(String repoId, HubOptions options) throws IOException {
        RepoId repo = RepoId.parse(repoId);
        if (options.offline()) {
            return cachedSnapshot(repo, options).orElseThrow(() -> offlineMiss(repo, options, false));
        }
        return new SnapshotDownload(options, repo).run();
    }

    /** The cached snapshot of {@code repo}, when the cache has a complete one; never touches the network. */
    public static Optional<Path> cachedSnapshot(RepoId repo, HubOptions options) throws IOException {
        HubCache cache = new HubCache(options.cacheDir(), repo);
        Optional<String> commit = cache.commitFor(repo.revision());
        if (commit.isEmpty()) {
            return Optional.empty();
        }
        Path snapshot = cache.snapshotDir(commit.get());
        return CheckpointReport.of(snapshot).complete() ? Optional.of(snapshot) : Optional.empty();
    }

    private static HubException offlineMiss(RepoId repo, HubOptions options, boolean couldBeDirectory) {
        HubCache cache = new HubCache(options.cacheDir(), repo);
        String state;
        try {
            Optional<String> commit = cache.commitFor(repo.revision());
            state = commit.isEmpty()
                    ? "is not in the Hugging Face cache at " + cache.root()
                    : "is only partly in the Hugging Face cache: " + CheckpointReport.of(cache.snapshotDir(commit.get())).describe();
        } catch (IOException e) {
            state = "cannot be read from the Hugging Face cache at " + cache.root() + " (" + HubClient.describe(e) + ")";
        }
        return new HubException(Reason.OFFLINE, repo + " " + state + ", and HF_HUB_OFFLINE=1 forbids downloading it: run `vqwen pull "
                + repo + "` where the Hub is reachable, or unset HF_HUB_OFFLINE"
                + (couldBeDirectory ? " (there is no local directory '" + repo + "' either)" : ""));
    }
}
