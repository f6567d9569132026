package io.vqwen.engine.generate;

import io.vqwen.engine.backend.Backend;
import io.vqwen.engine.backend.BatchLayout;
import io.vqwen.engine.backend.KvCache;
import io.vqwen.engine.backend.Tensor;
import io.vqwen.engine.config.GenerationConfig;
import io.vqwen.engine.model.Qwen3Model;
import io.vqwen.engine.model.WeightSource;
import io.vqwen.engine.pipeline.ImageEmbeddings;
import io.vqwen.engine.sched.ScheduledChunk;
import io.vqwen.engine.sched.Scheduler;
import io.vqwen.engine.sched.SchedulerConfig;
import io.vqwen.engine.sched.Sequence;
import io.vqwen.engine.text.StreamingDetokenizer;
import io.vqwen.engine.text.Tokenizer;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.LockSupport;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * The decoder with continuous batching: one step thread loops schedule -> execute -> update (vLLM's
 * EngineCore.step). Requests join and leave the batch between steps; each keeps its own sampler, seed, stop
 * strings and streaming detokenizer.
 */
public final class DecoderEngine implements AutoCloseable {
    private static final Logger LOG = Logger.getLogger(DecoderEngine.class.getName());

    private final Qwen3Model model;
    private final Backend backend;
    private final Tokenizer tokenizer;
    private final GenerationConfig generation;
    private final DecoderOptions options;
    private final KvCache cache;
    private final Scheduler<Request> scheduler;
    private final int imageToken;
    private final ConcurrentLinkedQueue<Sequence<Request>> inbox = new ConcurrentLinkedQueue<>();
    private final ConcurrentLinkedQueue<Sequence<Request>> cancels = new ConcurrentLinkedQueue<>();
    private final AtomicInteger pending = new AtomicInteger();
    private final Thread stepThread;
    private volatile boolean accepting = true;
    private volatile boolean stopped;
    private volatile EngineStats stats;
    private long steps;

    /** Per-request state the scheduler carries as its payload. */
    private final class Request implements RequestHandle {
        final GenerationRequest req;
        final GenerationListener listener;
        final Sampler sampler;
        final StreamingDetokenizer detok;
        final int[] imageRowOfPosition; // prompt position -> row of imageEmbeddings, or -1
        final StringBuilder text = new StringBuilder();
        int emitted;
        final long arrival = System.nanoTime();
        long firstScheduled, firstToken;
        Sequence<Request> seq;
        boolean done;

        Request(GenerationRequest req, GenerationListener listener) {
            this.req = req;
            this.listener = listener;
            this.sampler = new Sampler(req.sampling());
            this.detok = tokenizer.stream();
            int hidden = model.config().hiddenSize();
            int[] rows = new int[req.promptIds().length];
            int n = 0;
            for (int i = 0; i < rows.length; i++) rows[i] = req.promptIds()[i] == imageToken ? n++ : -1;
            ImageEmbeddings emb = req.imageEmbeddings();
            long have = emb == null ? 0 : (long) emb.rows() * emb.width();
            if (n * (long) hidden != have || (emb != null && emb.width() != hidden)) {
                throw new IllegalArgumentException("the prompt has " + n + " image tokens, which need " + n + " x " + hidden
                        + " image embedding values; got " + have);
            }
            this.imageRowOfPosition = rows;
        }

        boolean wantsOnlyGreedyId() {
            SamplingParams p = req.sampling();
            return p.isGreedy() && p.repetitionPenalty() == 1f && !req.logprobs() && req.topLogprobs() == 0;
        }

        @Override
        public String requestId() {
            return req.requestId();
        }

        @Override
        public void cancel() {
            cancels.add(seq);
            LockSupport.unpark(stepThread);
        }
    }

    public DecoderEngine(WeightSource weights, Backend backend, Tokenizer tokenizer, GenerationConfig generation, DecoderOptions options) {
        this(new Qwen3Model(backend, weights), weights.config().imageTokenIndex(), tokenizer, generation, options);
    }

    public DecoderEngine(Qwen3Model model, int imageToken, Tokenizer tokenizer, GenerationConfig generation, DecoderOptions options) {
        this.model = model;
        this.backend = model.backend();
        this.tokenizer = tokenizer;
        this.generation = generation;
        this.options = options;
        this.imageToken = imageToken;
        this.cache = model.allocateKvCache(options.kvBlocks(), options.blockSize());
        this.scheduler = new Scheduler<>(new SchedulerConfig(options.maxRunning(), options.prefillTokenBudget(),
                options.maxWaiting(), options.blockSize(), options.kvBlocks(), options.maxModelLen()));
        this.stats = new EngineStats(0, 0, 0, options.kvBlocks(), 0, 0, 0);
        this.stepThread = Thread.ofPlatform().name("vqwen-decoder-step").daemon().start(this::loop);
    }

    public int maxModelLen() {
        return options.maxModelLen();
    }

    public int hiddenSize() {
        return model.config().hiddenSize();
    }

    public DecoderOptions options() {
        return options;
    }

    public EngineStats stats() {
        return stats;
    }

    /** Queues a request. Throws IllegalArgumentException for a request that can never run, QueueFullException when busy. */
    public RequestHandle submit(GenerationRequest req, GenerationListener listener) {
        if (!accepting) throw new IllegalStateException("the decoder is shutting down");
        ContextWindow.maxNewTokens(req.promptIds().length, req.maxNewTokens(), options.maxModelLen());
        for (int id : req.promptIds()) {
            if (id < 0 || id >= model.config().vocabSize()) throw new IllegalArgumentException("token id " + id + " is outside the vocabulary");
        }
        if (pending.get() >= options.maxWaiting()) throw new QueueFullException(pending.get());
        Request r = new Request(req, listener);
        Sequence<Request> seq = new Sequence<>(req.requestId(), req.promptIds(), req.maxNewTokens(), r);
        r.seq = seq;
        pending.incrementAndGet();
        inbox.add(seq);
        LockSupport.unpark(stepThread);
        return r;
    }

    /** Stops accepting requests and waits for in-flight ones to finish; after the deadline the rest are cancelled. */
    public boolean drain(Duration deadline) {
        accepting = false;
        long end = System.nanoTime() + deadline.toNanos();
        while (System.nanoTime() < end) {
            EngineStats s = stats;
            if (s.running() == 0 && s.waiting() == 0 && inbox.isEmpty()) return true;
            LockSupport.parkNanos(TimeUnit.MILLISECONDS.toNanos(20));
        }
        return false;
    }

    @Override
    public void close() {
        accepting = false;
        stopped = true;
        LockSupport.unpark(stepThread);
        try {
            stepThread.join(10_000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        cache.close();
    }

    // ---- the step thread ----------------------------------------------------------------------------------

    private void loop() {
        while (!stopped) {
            try {
                admit();
                for (Sequence<Request> s; (s = cancels.poll()) != null; ) scheduler.cancel(s);
                for (Sequence<Request> s : scheduler.reapCancelled()) finish(s.payload(), "cancelled");
                List<ScheduledChunk<Request>> chunks = scheduler.schedule();
                publishStats(chunks.size());
                if (chunks.isEmpty()) {
                    LockSupport.parkNanos(TimeUnit.MILLISECONDS.toNanos(50));
                    continue;
                }
                execute(chunks);
                steps++;
            } catch (Throwable t) {
                LOG.log(Level.SEVERE, "decoder step failed", t);
                failAll(t);
            }
        }
        failAll(new IllegalStateException("the decoder stopped"));
    }

    private void admit() {
        for (Sequence<Request> s; (s = inbox.poll()) != null; ) {
            pending.decrementAndGet();
            try {
                scheduler.add(s);
            } catch (RuntimeException e) {
                s.payload().done = true;
                s.payload().listener.onError(e);
            }
        }
    }

    private void execute(List<ScheduledChunk<Request>> chunks) {
        int n = 0;
        for (ScheduledChunk<Request> c : chunks) n += c.count();
        int numSeqs = chunks.size();
        int blockSize = options.blockSize();
        int[] ids = new int[n], pos = new int[n], slots = new int[n], qStart = new int[numSeqs + 1], ctx = new int[numSeqs];
        int[][] tables = new int[numSeqs][];
        List<Integer> logitRows = new ArrayList<>();
        List<Integer> imageRows = new ArrayList<>();
        List<ImageEmbeddings> imageSrc = new ArrayList<>();
        List<Integer> imageSrcRow = new ArrayList<>();
        int row = 0;
        long now = System.nanoTime();
        for (int s = 0; s < numSeqs; s++) {
            ScheduledChunk<Request> c = chunks.get(s);
            Sequence<Request> seq = c.seq();
            Request r = seq.payload();
            if (r.firstScheduled == 0) r.firstScheduled = now;
            int[] table = seq.blockTable();
            tables[s] = table;
            qStart[s] = row;
            for (int i = 0; i < c.count(); i++, row++) {
                int p = c.start() + i;
                ids[row] = seq.token(p);
                pos[row] = p;
                slots[row] = table[p / blockSize] * blockSize + p % blockSize;
                if (p < r.imageRowOfPosition.length && r.imageRowOfPosition[p] >= 0) {
                    imageRows.add(row);
                    imageSrc.add(r.req.imageEmbeddings());
                    imageSrcRow.add(r.imageRowOfPosition[p]);
                }
            }
            ctx[s] = c.start() + c.count();
            if (c.sample()) logitRows.add(row - 1);
        }
        qStart[numSeqs] = n;
        BatchLayout layout = new BatchLayout(ids, pos, slots, qStart, ctx, tables, logitRows.stream().mapToInt(Integer::intValue).toArray());

        Tensor images = null;
        int[] imageRowArray = imageRows.stream().mapToInt(Integer::intValue).toArray();
        if (!imageRows.isEmpty()) {
            // Gathered in the requests' dtype: bf16 rows go to the device as bf16, with no float32 round trip.
            images = backend.upload(ImageEmbeddings.gather(imageSrc, imageSrcRow.stream().mapToInt(Integer::intValue).toArray()));
        }
        Tensor logits = model.forward(layout, cache, images, imageRowArray);
        if (images != null) backend.free(images);
        // When every sampled request is plain greedy without log-probabilities, only the argmax ids come back
        // (4 bytes a row on a GPU instead of the vocabulary's logits).
        boolean idsOnly = !logitRows.isEmpty();
        for (ScheduledChunk<Request> c : chunks) if (c.sample()) idsOnly &= c.seq().payload().wantsOnlyGreedyId();
        int[] greedyIds = idsOnly ? backend.argmax(logits) : null;
        float[] all = idsOnly || logitRows.isEmpty() ? null : backend.download(logits);
        backend.free(logits);

        int vocab = model.config().vocabSize();
        int li = 0;
        for (ScheduledChunk<Request> c : chunks) {
            scheduler.computed(c);
            if (!c.sample()) continue;
            int logitRow = li++;
            // A failure while sampling or streaming one request ends that request alone, not the batch.
            try {
                if (greedyIds != null) {
                    if (!c.seq().payload().done) accept(c.seq(), greedyIds[logitRow], null);
                    continue;
                }
                float[] row1 = new float[vocab];
                System.arraycopy(all, logitRow * vocab, row1, 0, vocab);
                onToken(c.seq(), row1);
            } catch (RuntimeException e) {
                LOG.log(Level.WARNING, "request " + c.seq().id() + " failed", e);
                scheduler.finish(c.seq());
                Request r = c.seq().payload();
                if (!r.done) {
                    r.done = true;
                    r.listener.onError(e);
                }
            }
        }
    }

    private void onToken(Sequence<Request> seq, float[] logits) {
        Request r = seq.payload();
        if (r.done) return;
        TokenLogprob lp = null;
        // Log-probabilities come from the raw logits, before the sampler's penalties.
        float[] raw = (r.req.logprobs() || r.req.topLogprobs() > 0) ? logits.clone() : null;
        int token = r.sampler.sample(logits, seqHistory(seq));
        if (raw != null) lp = logprob(raw, token, r.req.topLogprobs());
        accept(seq, token, lp);
    }

    private void accept(Sequence<Request> seq, int token, TokenLogprob lp) {
        Request r = seq.payload();
        scheduler.append(seq, token);
        if (r.firstToken == 0) r.firstToken = System.nanoTime();

        boolean eos = !r.req.ignoreEos() && generation.eosTokenIds().contains(token);
        String delta = eos ? "" : r.detok.add(token);
        String finish = null;
        if (eos) finish = "stop";
        else if (seq.outputLength() >= r.req.maxNewTokens()) finish = "length";
        if (finish != null) delta += r.detok.flush();
        r.text.append(delta);

        // Stop strings: cut before the first match; hold back a tail that could still become one.
        int emitTo = r.text.length();
        for (String stop : r.req.stop()) {
            int at = r.text.indexOf(stop, Math.max(0, r.emitted - stop.length() + 1));
            if (at >= 0 && at < emitTo) {
                emitTo = at;
                finish = "stop";
            }
        }
        if (finish == null) emitTo -= heldBack(r);
        String out = emitTo > r.emitted ? r.text.substring(r.emitted, emitTo) : "";
        r.emitted = Math.max(r.emitted, emitTo);
        r.listener.onDelta(new TokenDelta(new int[] {token}, out, lp == null ? List.of() : List.of(lp)));
        if (finish != null) {
            scheduler.finish(seq);
            finish(r, finish);
        }
    }

    private int heldBack(Request r) {
        int hold = 0;
        for (String stop : r.req.stop()) {
            for (int k = Math.min(stop.length() - 1, r.text.length() - r.emitted); k > hold; k--) {
                if (r.text.substring(r.text.length() - k).equals(stop.substring(0, k))) {
                    hold = k;
                    break;
                }
            }
        }
        return hold;
    }

    private List<Integer> seqHistory(Sequence<Request> seq) {
        List<Integer> h = new ArrayList<>(seq.length());
        for (int id : seq.allIds()) h.add(id);
        return h;
    }

    private TokenLogprob logprob(float[] logits, int token, int top) {
        double lse = Sampler.logSumExp(logits);
        List<TopLogprob> alts = new ArrayList<>();
        for (int id : Sampler.topK(logits, top)) alts.add(new TopLogprob(id, tokenizer.tokenText(id), (float) (logits[id] - lse)));
        return new TokenLogprob(token, tokenizer.tokenText(token), (float) (logits[token] - lse), alts);
    }

    private void finish(Request r, String reason) {
        if (r.done) return;
        r.done = true;
        long end = System.nanoTime();
        int completion = r.seq.outputLength();
        double queue = r.firstScheduled == 0 ? ms(end - r.arrival) : ms(r.firstScheduled - r.arrival);
        double prefill = r.firstToken == 0 ? 0 : ms(r.firstToken - r.firstScheduled);
        double decode = r.firstToken == 0 ? 0 : ms(end - r.firstToken);
        double ttft = r.firstToken == 0 ? 0 : ms(r.firstToken - r.arrival);
        double tps = decode > 0 && completion > 1 ? (completion - 1) / (decode / 1000.0) : 0;
        r.listener.onFinish(new Completion(reason, r.seq.promptLength(), completion, new Timings(queue, prefill, decode, ttft, tps)));
    }

    private void failAll(Throwable t) {
        for (Sequence<Request> s : scheduler.running()) {
            scheduler.finish(s);
            if (!s.payload().done) {
                s.payload().done = true;
                s.payload().listener.onError(t);
            }
        }
        for (Sequence<Request> s; (s = inbox.poll()) != null; ) {
            pending.decrementAndGet();
            s.payload().done = true;
            s.payload().listener.onError(t);
        }
        publishStats(0);
    }

    private void publishStats(int batch) {
        stats = new EngineStats(scheduler.numRunning(), scheduler.numWaiting() + pending.get(), scheduler.blocksUsed(),
                scheduler.blocksTotal(), steps, batch, scheduler.preemptions());
    }

    private static double ms(long nanos) {
        return nanos / 1e6;
    }
}
