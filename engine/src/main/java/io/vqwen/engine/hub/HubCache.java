package io.vqwen.engine.hub;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.locks.ReentrantLock;
import java.util.regex.Pattern;

/**
 * One repository's corner of the Hugging Face hub cache, in huggingface_hub's layout, so that models that
 * huggingface-cli or transformers downloaded are used in place and ours are usable by them:
 * <pre>
 * models--org--name/
 *   refs/main                      the commit hash "main" pointed to when last fetched
 *   blobs/&lt;etag&gt;                   file contents, named by SHA-256 (LFS files) or git blob hash (small files)
 *   blobs/&lt;etag&gt;.incomplete        a download in progress, resumed from its length
 *   snapshots/&lt;commit&gt;/&lt;file&gt;      relative symlink to ../../blobs/&lt;etag&gt; (a copy where links are impossible)
 * .locks/models--org--name/&lt;etag&gt;.lock
 * </pre>
 */
final class HubCache {

    private static final Pattern COMMIT = Pattern.compile("[0-9a-f]{40}");
    // Blob names come from the server's ETag; only plain file names are accepted.
    private static final Pattern SAFE_ETAG = Pattern.compile("[0-9A-Za-z_.-]{1,128}");
    /** Serializes threads of this JVM; FileLock alone throws OverlappingFileLockException within one JVM. */
    private static final ConcurrentHashMap<Path, ReentrantLock> IN_PROCESS_LOCKS = new ConcurrentHashMap<>();

    private final Path root;
    private final RepoId repo;

    HubCache(Path root, RepoId repo) {
        this.root = root.toAbsolutePath().normalize();
        this.repo = repo;
    }

    Path root() {
        return root;
    }

    Path repoDir() {
        return root.resolve(repo.cacheFolderName());
    }

    Path blobsDir() {
        return repoDir().resolve("blobs");
    }

    Path blob(String etag) {
        if (!SAFE_ETAG.matcher(etag).matches() || etag.startsWith(".")) {
            throw new IllegalArgumentException("unusable ETag for a blob name: " + etag);
        }
        return blobsDir().resolve(etag);
    }

    Path incomplete(String etag) {
        return blob(etag).resolveSibling(etag + ".incomplete");
    }

    Path snapshotDir(String commit) {
        if (!COMMIT.matcher(commit).matches()) {
            throw new IllegalArgumentException("not a commit hash: " + commit);
        }
        return repoDir().resolve("snapshots").resolve(commit);
    }

    /** The snapshot path of a repo file, refusing names that would land outside the snapshot. */
    Path pointer(String commit, String file) throws HubException {
        Path snapshot = snapshotDir(commit);
        Path p = snapshot.resolve(file).normalize();
        if (file.isEmpty() || file.contains("\\") || Path.of(file).isAbsolute() || !p.startsWith(snapshot) || p.equals(snapshot)) {
            throw new HubException(HubException.Reason.PROTOCOL, "the Hub listed an unsafe file name in " + repo.id() + ": " + file);
        }
        return p;
    }

    private Path ref(String revision) {
        return repoDir().resolve("refs").resolve(revision);
    }

    /** The commit this revision names: itself when it is a hash, else what {@code refs/<revision>} holds. */
    Optional<String> commitFor(String revision) throws IOException {
        if (COMMIT.matcher(revision).matches()) {
            return Optional.of(revision);
        }
        Path ref = ref(revision);
        if (!Files.isRegularFile(ref)) {
            return Optional.empty();
        }
        String commit = Files.readString(ref, StandardCharsets.UTF_8).strip();
        return COMMIT.matcher(commit).matches() ? Optional.of(commit) : Optional.empty();
    }

    /** Records that {@code revision} points at {@code commit}; huggingface_hub writes the bare hash, no newline. */
    void writeRef(String revision, String commit) throws IOException {
        if (COMMIT.matcher(revision).matches()) {
            return;
        }
        Path ref = ref(revision);
        Files.createDirectories(ref.getParent());
        Path tmp = ref.resolveSibling(ref.getFileName() + ".tmp" + ProcessHandle.current().pid());
        Files.writeString(tmp, commit, StandardCharsets.UTF_8);
        moveReplacing(tmp, ref);
    }

    /** Puts {@code pointer} in the snapshot as a relative symlink to {@code blob}, or a copy where links fail. */
    void link(Path blob, Path pointer) throws IOException {
        Files.createDirectories(pointer.getParent());
        Files.deleteIfExists(pointer);
        try {
            Files.createSymbolicLink(pointer, pointer.getParent().relativize(blob));
        } catch (UnsupportedOperationException | IOException e) {
            // Windows without developer mode, some network and FAT file systems: huggingface_hub copies too.
            Path tmp = pointer.resolveSibling(pointer.getFileName() + ".tmp" + ProcessHandle.current().pid());
            Files.copy(blob, tmp, StandardCopyOption.REPLACE_EXISTING);
            moveReplacing(tmp, pointer);
        }
    }

    static void moveReplacing(Path from, Path to) throws IOException {
        try {
            Files.move(from, to, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        } catch (AtomicMoveNotSupportedException e) {
            Files.move(from, to, StandardCopyOption.REPLACE_EXISTING);
        }
    }

    static boolean existsNoFollow(Path p) {
        return Files.exists(p, LinkOption.NOFOLLOW_LINKS);
    }

    /** Holds off other threads and processes (two pulls, two pods on one volume) writing the same blob. */
    BlobLock lockBlob(String etag) throws IOException {
        Path lockFile = root.resolve(".locks").resolve(repo.cacheFolderName()).resolve(blob(etag).getFileName() + ".lock");
        ReentrantLock jvmLock = IN_PROCESS_LOCKS.computeIfAbsent(lockFile, k -> new ReentrantLock());
        jvmLock.lock();
        try {
            Files.createDirectories(lockFile.getParent());
            FileChannel channel = FileChannel.open(lockFile, StandardOpenOption.CREATE, StandardOpenOption.WRITE);
            try {
                return new BlobLock(jvmLock, channel, channel.lock());
            } catch (IOException | RuntimeException e) {
                channel.close();
                throw e;
            }
        } catch (IOException | RuntimeException e) {
            jvmLock.unlock();
            throw e;
        }
    }

    record BlobLock(ReentrantLock jvmLock, FileChannel channel, FileLock fileLock) implements AutoCloseable {
        @Override
        public void close() throws IOException {
            try {
                fileLock.release();
                channel.close();
            } finally {
                jvmLock.unlock();
            }
        }
    }
}
