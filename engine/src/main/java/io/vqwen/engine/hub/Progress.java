package io.vqwen.engine.hub;

import java.io.Console;
import java.io.PrintStream;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Download progress. On a terminal: a bar per file being fetched and a total line, redrawn in place. Elsewhere (CI, a
 * Kubernetes init container's log): a line when a file starts and ends, and a total every ten seconds.
 */
final class Progress implements AutoCloseable {

    private static final long TERMINAL_REFRESH_MS = 150;
    private static final long PLAIN_REFRESH_MS = 10_000;
    private static final int BAR_WIDTH = 24;
    private static final int NAME_WIDTH = 36;

    private final PrintStream out;
    private final boolean terminal;
    private final long totalBytes;
    private final int totalFiles;
    private final long startNanos = System.nanoTime();
    private final AtomicLong transferred = new AtomicLong(); // bytes fetched in this run, for the speed
    private final AtomicLong present = new AtomicLong();     // bytes on disk, resumed ones included
    private final List<Bar> active = new ArrayList<>();      // guarded by this
    private final List<String> pending = new ArrayList<>();  // guarded by this; lines to print above the bars
    private final ScheduledExecutorService ticker;
    private int filesDone;                                   // guarded by this
    private int drawnLines;                                  // guarded by this

    /** @param out null for silence */
    Progress(PrintStream out, boolean terminal, long totalBytes, int totalFiles) {
        this.out = out;
        this.terminal = terminal && out != null;
        this.totalBytes = totalBytes;
        this.totalFiles = totalFiles;
        if (out == null || totalFiles == 0) {
            ticker = null;
        } else {
            ticker = Executors.newSingleThreadScheduledExecutor(r -> {
                Thread t = new Thread(r, "hub-progress");
                t.setDaemon(true);
                return t;
            });
            long period = this.terminal ? TERMINAL_REFRESH_MS : PLAIN_REFRESH_MS;
            ticker.scheduleAtFixedRate(this.terminal ? this::render : this::logTotal, period, period, TimeUnit.MILLISECONDS);
        }
    }

    /** True when {@code out} is the console of an interactive terminal, where bars can be redrawn. */
    static boolean isTerminal(PrintStream out) {
        Console console = System.console();
        return out != null && console != null && console.isTerminal() && (out == System.err || out == System.out);
    }

    synchronized void log(String line) {
        if (out == null) {
            return;
        }
        if (terminal) {
            pending.add(line);
        } else {
            out.println(line);
            out.flush();
        }
    }

    /** A file starts downloading; {@code from} bytes of it are already on disk (a resumed download). */
    synchronized Bar start(String file, long size, long from) {
        Bar bar = new Bar(file, size, from);
        present.addAndGet(from);
        active.add(bar);
        if (!terminal) {
            log(from > 0 ? file + ": resuming at " + bytes(from) + " of " + bytes(size)
                    : file + ": downloading " + bytes(size));
        }
        return bar;
    }

    final class Bar {
        private final String file;
        private final long size;
        private final AtomicLong have;

        private Bar(String file, long size, long from) {
            this.file = file;
            this.size = size;
            this.have = new AtomicLong(from);
        }

        void advance(long n) {
            have.addAndGet(n);
            transferred.addAndGet(n);
            present.addAndGet(n);
        }

        /** The server ignored the Range request: the bytes kept so far no longer count. */
        void restart() {
            present.addAndGet(-have.getAndSet(0));
        }

        void done(String note) {
            finish(file + ": " + note);
        }

        void failed(String why) {
            finish(file + ": FAILED, " + why);
        }

        private void finish(String line) {
            synchronized (Progress.this) {
                active.remove(this);
                filesDone++;
                log(line);
            }
        }
    }

    @Override
    public void close() {
        if (ticker == null) {
            return;
        }
        ticker.shutdownNow();
        if (terminal) {
            render();
        }
    }

    private synchronized void render() {
        StringBuilder sb = new StringBuilder();
        if (drawnLines > 0) {
            sb.append("\r\033[").append(drawnLines).append('A');
        }
        sb.append("\033[J");
        pending.forEach(l -> sb.append(l).append('\n'));
        pending.clear();
        for (Bar b : active) {
            String name = b.file.length() > NAME_WIDTH ? "..." + b.file.substring(b.file.length() - NAME_WIDTH + 3) : b.file;
            sb.append(String.format(Locale.ROOT, "  %-" + NAME_WIDTH + "s %s %s%n", name, bar(b.have.get(), b.size),
                    bytes(b.have.get()) + "/" + bytes(b.size)));
        }
        sb.append(String.format(Locale.ROOT, "  %-" + NAME_WIDTH + "s %s %s  %d/%d files  %s%n", "total",
                bar(present.get(), totalBytes), bytes(present.get()) + "/" + bytes(totalBytes), filesDone, totalFiles, speed()));
        drawnLines = active.size() + 1;
        out.print(sb);
        out.flush();
    }

    private synchronized void logTotal() {
        if (!active.isEmpty()) {
            log(String.format(Locale.ROOT, "total: %s of %s (%d%%), %d/%d files done, %s", bytes(present.get()),
                    bytes(totalBytes), percent(present.get(), totalBytes), filesDone, totalFiles, speed()));
        }
    }

    private String speed() {
        double seconds = Math.max(1e-3, (System.nanoTime() - startNanos) / 1e9);
        return bytes((long) (transferred.get() / seconds)) + "/s";
    }

    private static String bar(long have, long size) {
        int filled = (int) (BAR_WIDTH * Math.min(1.0, size <= 0 ? 0 : (double) have / size));
        return "[" + "#".repeat(filled) + ".".repeat(BAR_WIDTH - filled) + "] " + String.format(Locale.ROOT, "%3d%%", percent(have, size));
    }

    private static int percent(long have, long size) {
        return size <= 0 ? 0 : (int) Math.min(100, 100 * have / size);
    }

    /** Decimal units, as the Hub's web pages and huggingface-cli's bars show sizes. */
    static String bytes(long n) {
        if (n < 0) {
            return "? B";
        }
        if (n < 1000) {
            return n + " B";
        }
        String[] units = {"kB", "MB", "GB", "TB"};
        double v = n;
        int u = -1;
        while (v >= 1000 && u < units.length - 1) {
            v /= 1000;
            u++;
        }
        return String.format(Locale.ROOT, "%.1f %s", v, units[u]);
    }
}
