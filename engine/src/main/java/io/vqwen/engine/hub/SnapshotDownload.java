package io.vqwen.engine.hub;

import io.vqwen.engine.hub.HubClient.FileMeta;
import io.vqwen.engine.hub.HubException.Reason;

import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.function.ToLongFunction;

/**
 * Brings one revision of a Hub repo into the cache, as huggingface_hub's snapshot_download does: list the files at
 * the revision's commit, HEAD each for its ETag and size, fetch the blobs that are missing (several at once, resuming
 * {@code .incomplete} ones), verify each against its ETag, and only when every file is in place link the snapshot and
 * write {@code refs/<revision>}. A failed run leaves verified blobs and resumable partial files, never a snapshot file
 * that is partial or unverified.
 */
final class SnapshotDownload {

    static final Duration DEFAULT_STALL_TIMEOUT = Duration.ofSeconds(60);
    private static final int BUFFER_BYTES = 1 << 20;

    private final HubOptions options;
    private final RepoId repo;
    private final HubCache cache;
    private final HubClient client;
    private final Duration stallTimeout;
    private final ToLongFunction<Path> usableSpace;

    SnapshotDownload(HubOptions options, RepoId repo) {
        this(options, repo, DEFAULT_STALL_TIMEOUT, SnapshotDownload::usableSpace);
    }

    /** @param usableSpace free bytes on the file system holding a directory (tests pass a small one) */
    SnapshotDownload(HubOptions options, RepoId repo, Duration stallTimeout, ToLongFunction<Path> usableSpace) {
        this.options = options;
        this.repo = repo;
        this.cache = new HubCache(options.cacheDir(), repo);
        this.client = new HubClient(options, repo);
        this.stallTimeout = stallTimeout;
        this.usableSpace = usableSpace;
    }

    /** Downloads what is missing and returns the snapshot directory. */
    Path run() throws IOException {
        try (client) {
            return download();
        }
    }

    private Path download() throws IOException {
        HubClient.RepoInfo info = client.repoInfo();
        String commit = info.commit();
        Path snapshot = cache.snapshotDir(commit);

        List<String> missing = new ArrayList<>();
        for (String file : info.files()) {
            if (!Files.exists(cache.pointer(commit, file))) { // follows the link: a dangling one counts as missing
                missing.add(file);
            }
        }
        log(repo + ": commit " + commit + ", " + info.files().size() + " files"
                + (missing.isEmpty() ? ", all in the cache at " + snapshot : ""));

        ExecutorService pool = Executors.newFixedThreadPool(options.parallelDownloads(), r -> {
            Thread t = new Thread(r, "hub-download");
            t.setDaemon(true);
            return t;
        });
        try {
            List<FileMeta> metas = allOf(pool, missing, file -> client.fileMetadata(commit, file));

            // Files with the same content share one blob; fetch each blob once.
            Map<String, FileMeta> blobsToFetch = new LinkedHashMap<>();
            long bytesNeeded = 0;
            long bytesTotal = 0;
            for (FileMeta m : metas) {
                if (!blobPresent(m) && blobsToFetch.putIfAbsent(m.etag(), m) == null) {
                    long partial = Files.isRegularFile(cache.incomplete(m.etag())) ? Files.size(cache.incomplete(m.etag())) : 0;
                    bytesNeeded += Math.max(0, m.size() - partial);
                    bytesTotal += Math.max(0, m.size());
                }
            }
            checkSpace(bytesNeeded);
            if (!blobsToFetch.isEmpty()) {
                log(repo + ": downloading " + blobsToFetch.size() + " file(s), " + Progress.bytes(bytesTotal) + (bytesNeeded < bytesTotal
                        ? " (" + Progress.bytes(bytesTotal - bytesNeeded) + " of it already on disk)" : "") + ", into " + cache.repoDir());
            }

            try (Progress progress = new Progress(options.progress(), Progress.isTerminal(options.progress()), bytesTotal,
                    blobsToFetch.size());
                 StallWatchdog watchdog = new StallWatchdog(stallTimeout)) {
                forEach(pool, List.copyOf(blobsToFetch.values()), m -> fetchBlob(m, progress, watchdog));
            }

            // Everything is verified and in blobs/: only now does the snapshot get its files.
            for (FileMeta m : metas) {
                cache.link(cache.blob(m.etag()), cache.pointer(commit, m.file()));
            }
            Files.createDirectories(snapshot);
            cache.writeRef(repo.revision(), commit);
        } finally {
            pool.shutdownNow();
        }

        CheckpointReport report = CheckpointReport.of(snapshot);
        if (!report.complete()) {
            throw new HubException(Reason.INCOMPLETE_CHECKPOINT, repo + " was downloaded but " + report.describe());
        }
        log(repo + ": ready at " + snapshot);
        return snapshot;
    }

    private boolean blobPresent(FileMeta m) throws IOException {
        Path blob = cache.blob(m.etag());
        return Files.isRegularFile(blob) && (m.size() < 0 || Files.size(blob) == m.size());
    }

    /** huggingface_hub only warns; failing before the first byte is kinder than filling the disk and failing later. */
    private void checkSpace(long bytesNeeded) throws IOException {
        if (bytesNeeded <= 0) {
            return;
        }
        Files.createDirectories(cache.blobsDir());
        long free = usableSpace.applyAsLong(cache.blobsDir());
        if (free >= 0 && free < bytesNeeded) {
            throw new HubException(Reason.DISK_FULL, "No space left on device for " + repo + ": it needs "
                    + Progress.bytes(bytesNeeded) + " more in " + cache.blobsDir() + " but only " + Progress.bytes(free)
                    + " are free; free some space or point HF_HUB_CACHE / --cache-dir elsewhere");
        }
    }

    private static long usableSpace(Path dir) {
        try {
            return Files.getFileStore(dir).getUsableSpace();
        } catch (IOException e) {
            return -1; // unknown: let the writes find out
        }
    }

    /** Fetches one blob into {@code blobs/<etag>}, resuming its {@code .incomplete} file, and verifies it. */
    private void fetchBlob(FileMeta meta, Progress progress, StallWatchdog watchdog) throws IOException {
        Path blob = cache.blob(meta.etag());
        Path part = cache.incomplete(meta.etag());
        Files.createDirectories(cache.blobsDir());
        try (HubCache.BlobLock lock = cache.lockBlob(meta.etag())) {
            if (blobPresent(meta)) {
                return; // another process fetched it while this one waited for the lock
            }
            Files.deleteIfExists(blob); // wrong size: not ours to trust
            Verifier verifier = Verifier.forFile(meta);
            long have = Files.isRegularFile(part) ? Files.size(part) : 0;
            if (meta.size() >= 0 && have > meta.size()) {
                Files.delete(part);
                have = 0;
            }
            Progress.Bar bar = progress.start(meta.file(), meta.size(), have);
            try (FileChannel out = FileChannel.open(part, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
                    StandardOpenOption.READ)) {
                verifier.update(out, have);
                if (meta.size() < 0 || have < meta.size()) {
                    have = transfer(meta, out, have, verifier, bar, watchdog);
                }
                if (meta.size() >= 0 && have != meta.size()) {
                    throw new HubException(Reason.NETWORK, "download of " + meta.file() + " ended after " + have + " of "
                            + meta.size() + " bytes; the partial file " + part + " is kept: run the pull again to resume");
                }
                String actual = verifier.hex();
                if (verifier.kind != Verifier.Kind.NONE && !actual.equals(meta.etag())) {
                    out.close();
                    Files.delete(part);
                    throw new HubException(Reason.CHECKSUM, "checksum mismatch for " + meta.file() + ": the Hub says "
                            + verifier.kind.label + " " + meta.etag() + ", the " + have + " bytes received hash to " + actual
                            + "; the download was discarded, run the pull again");
                }
                out.force(true);
            } catch (IOException e) {
                bar.failed(e instanceof HubException ? shortReason((HubException) e) : HubClient.describe(e));
                throw e;
            }
            HubCache.moveReplacing(part, blob);
            bar.done(Progress.bytes(have) + (verifier.kind == Verifier.Kind.NONE ? ", not verified (the server's ETag "
                    + meta.etag() + " is no content hash)" : ", " + verifier.kind.label + " verified"));
        }
    }

    /** Appends the server's bytes from {@code have} on; returns the length of the partial file afterwards. */
    private long transfer(FileMeta meta, FileChannel out, long have, Verifier verifier, Progress.Bar bar,
                          StallWatchdog watchdog) throws IOException {
        StallWatchdog.Transfer watch = watchdog.watch(Thread.currentThread());
        try (HubClient.Body body = client.open(meta, have)) {
            if (body.start() == 0 && have > 0) {
                // The server ignored Range and sends the whole file: start the partial file over.
                out.truncate(0);
                verifier.reset();
                bar.restart();
                have = 0;
            }
            InputStream in = body.in();
            byte[] buffer = new byte[BUFFER_BYTES];
            while (true) {
                int n;
                try {
                    n = in.read(buffer);
                } catch (IOException e) {
                    throw interrupted(meta, have, watch.stalled() ? stallReason()
                            : HubClient.describe(e), e);
                }
                if (n < 0) {
                    return have;
                }
                watch.tick();
                if (meta.size() >= 0 && have + n > meta.size()) {
                    throw new HubException(Reason.PROTOCOL, "the server sent more than the " + meta.size() + " bytes of "
                            + meta.file() + " it announced");
                }
                try {
                    ByteBuffer chunk = ByteBuffer.wrap(buffer, 0, n);
                    while (chunk.hasRemaining()) {
                        out.write(chunk, have + (n - chunk.remaining()));
                    }
                } catch (IOException e) {
                    if (watch.stalled()) {
                        throw interrupted(meta, have, stallReason(), e);
                    }
                    throw writeFailure(meta, have, e);
                }
                verifier.update(buffer, n);
                have += n;
                bar.advance(n);
            }
        } finally {
            watch.close();
            Thread.interrupted(); // a watchdog interrupt must not leak into the pool thread's next task
        }
    }

    private String stallReason() {
        long ms = stallTimeout.toMillis();
        return "no data for " + (ms % 1000 == 0 ? Long.toString(ms / 1000) : Double.toString(ms / 1000.0)) + " s";
    }

    private HubException interrupted(FileMeta meta, long have, String why, IOException cause) {
        return new HubException(Reason.NETWORK, "download of " + meta.file() + " broke off after " + Progress.bytes(have)
                + " of " + Progress.bytes(meta.size()) + " (" + why + "); the partial file "
                + cache.incomplete(meta.etag()) + " is kept: run the pull again to resume", cause);
    }

    private HubException writeFailure(FileMeta meta, long have, IOException e) {
        String message = String.valueOf(e.getMessage());
        if (message.contains("No space left") || message.contains("not enough space") || message.contains("Disk quota")) {
            return new HubException(Reason.DISK_FULL, "No space left on device writing " + meta.file() + " to "
                    + cache.blobsDir() + " after " + Progress.bytes(have) + " of " + Progress.bytes(meta.size())
                    + "; free some space and run the pull again to resume", e);
        }
        return new HubException(Reason.DISK_FULL, "cannot write " + cache.incomplete(meta.etag()) + ": "
                + HubClient.describe(e), e);
    }

    private static String shortReason(HubException e) {
        return switch (e.reason()) {
            case CHECKSUM -> "checksum mismatch, discarded";
            case NETWORK -> "connection lost, partial file kept";
            case DISK_FULL -> "disk full";
            default -> e.getMessage();
        };
    }

    private void log(String line) {
        if (options.progress() != null) {
            options.progress().println(line);
            options.progress().flush();
        }
    }

    interface IoFunction<T, R> {
        R apply(T t) throws IOException;
    }

    interface IoConsumer<T> {
        void accept(T t) throws IOException;
    }

    private static <T> void forEach(ExecutorService pool, List<T> items, IoConsumer<T> task) throws IOException {
        allOf(pool, items, (IoFunction<T, Void>) t -> {
            task.accept(t);
            return null;
        });
    }

    /**
     * Runs {@code task} on every item, waits for all (a failure does not cancel the others: their progress is worth
     * keeping for the next attempt), and reports every failure, the first as the cause.
     */
    private static <T, R> List<R> allOf(ExecutorService pool, List<T> items, IoFunction<T, R> task) throws IOException {
        List<Future<R>> futures = new ArrayList<>();
        for (T item : items) {
            futures.add(pool.submit(() -> task.apply(item)));
        }
        List<R> results = new ArrayList<>();
        List<IOException> failures = new ArrayList<>();
        for (Future<R> f : futures) {
            try {
                results.add(f.get());
            } catch (ExecutionException e) {
                if (e.getCause() instanceof IOException io) {
                    failures.add(io);
                } else if (e.getCause() instanceof RuntimeException re) {
                    throw re;
                } else {
                    throw new IllegalStateException(e.getCause());
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                pool.shutdownNow();
                throw new java.io.InterruptedIOException("interrupted while downloading");
            }
        }
        if (failures.isEmpty()) {
            return results;
        }
        IOException first = failures.getFirst();
        if (failures.size() == 1) {
            throw first;
        }
        StringBuilder message = new StringBuilder(failures.size() + " of " + items.size() + " downloads failed:");
        failures.forEach(f -> message.append("\n  - ").append(f.getMessage()));
        HubException all = new HubException(first instanceof HubException h ? h.reason() : Reason.NETWORK, message.toString(), first);
        failures.stream().skip(1).forEach(all::addSuppressed);
        throw all;
    }

    /**
     * Interrupts a download that has received nothing for a while: the JDK client's timeout covers only the wait for
     * the response headers, and a connection that stalls mid-body would otherwise hang forever.
     */
    static final class StallWatchdog implements AutoCloseable {
        private final long timeoutNanos;
        private final ScheduledExecutorService timer;
        private final Map<Transfer, Boolean> transfers = new ConcurrentHashMap<>();

        StallWatchdog(Duration timeout) {
            this.timeoutNanos = timeout.toNanos();
            this.timer = Executors.newSingleThreadScheduledExecutor(r -> {
                Thread t = new Thread(r, "hub-stall-watchdog");
                t.setDaemon(true);
                return t;
            });
            long period = Math.max(50, timeout.toMillis() / 4);
            timer.scheduleAtFixedRate(this::check, period, period, TimeUnit.MILLISECONDS);
        }

        Transfer watch(Thread thread) {
            Transfer t = new Transfer(thread);
            transfers.put(t, Boolean.TRUE);
            return t;
        }

        private void check() {
            long now = System.nanoTime();
            for (Transfer t : transfers.keySet()) {
                if (now - t.lastNanos > timeoutNanos && !t.stalled) {
                    t.stalled = true;
                    t.thread.interrupt();
                }
            }
        }

        @Override
        public void close() {
            timer.shutdownNow();
        }

        final class Transfer implements AutoCloseable {
            private final Thread thread;
            private volatile long lastNanos = System.nanoTime();
            private volatile boolean stalled;

            private Transfer(Thread thread) {
                this.thread = thread;
            }

            void tick() {
                lastNanos = System.nanoTime();
            }

            boolean stalled() {
                return stalled;
            }

            @Override
            public void close() {
                transfers.remove(this);
            }
        }
    }

    /**
     * The hash an ETag stands for: SHA-256 of the content for LFS files, git's blob SHA-1 (over {@code "blob <size>\0"}
     * and the content) for small files. huggingface_hub checks neither; a bad byte from a proxy should not reach the
     * engine.
     */
    static final class Verifier {
        enum Kind {
            SHA256("sha256"), GIT_SHA1("git sha1"), NONE("none");
            final String label;

            Kind(String label) {
                this.label = label;
            }
        }

        final Kind kind;
        private final long size;
        private MessageDigest digest;

        private Verifier(Kind kind, long size) {
            this.kind = kind;
            this.size = size;
            reset();
        }

        static Verifier forFile(FileMeta meta) throws HubException {
            boolean sha256 = meta.etag().matches("[0-9a-f]{64}");
            if (meta.lfs() && !sha256) {
                throw new HubException(Reason.PROTOCOL, "cannot verify " + meta.file() + ": its X-Linked-Etag '" + meta.etag()
                        + "' is not a SHA-256");
            }
            if (sha256) {
                return new Verifier(Kind.SHA256, meta.size());
            }
            if (meta.etag().matches("[0-9a-f]{40}") && meta.size() >= 0) {
                return new Verifier(Kind.GIT_SHA1, meta.size());
            }
            return new Verifier(Kind.NONE, meta.size());
        }

        void reset() {
            try {
                digest = switch (kind) {
                    case SHA256 -> MessageDigest.getInstance("SHA-256");
                    case GIT_SHA1, NONE -> MessageDigest.getInstance("SHA-1");
                };
            } catch (NoSuchAlgorithmException e) {
                throw new IllegalStateException("the JDK lacks a required digest", e);
            }
            if (kind == Kind.GIT_SHA1) {
                digest.update(("blob " + size + "\0").getBytes(java.nio.charset.StandardCharsets.US_ASCII));
            }
        }

        void update(byte[] bytes, int n) {
            digest.update(bytes, 0, n);
        }

        /** Hashes the first {@code length} bytes already in {@code file}, to continue a resumed download. */
        void update(FileChannel file, long length) throws IOException {
            ByteBuffer buffer = ByteBuffer.allocate(BUFFER_BYTES);
            long position = 0;
            while (position < length) {
                buffer.clear().limit((int) Math.min(buffer.capacity(), length - position));
                int n = file.read(buffer, position);
                if (n < 0) {
                    throw new IOException("partial file shrank while being read: " + file);
                }
                buffer.flip();
                digest.update(buffer);
                position += n;
            }
        }

        String hex() {
            return HexFormat.of().formatHex(digest.digest());
        }
    }
}
