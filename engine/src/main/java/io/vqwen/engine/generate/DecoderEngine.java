package io.vqwen.engine.generate;

import io.vqwen.engine.backend.Backend;
import io.vqwen.engine.backend.BatchLayout;
import io.vqwen.engine.backend.KvCache;
import io.vqwen.engine.backend.SampledToken;
import io.vqwen.engine.backend.SamplingRow;
import io.vqwen.engine.backend.Tensor;
import io.vqwen.engine.config.GenerationConfig;
import io.vqwen.engine.model.Qwen3Model;
import io.vqwen.engine.model.WeightSource;
import io.vqwen.engine.pipeline.ImageEmbeddings;
import io.vqwen.engine.sched.ScheduledChunk;
import io.vqwen.engine.sched.Scheduler;
import io.vqwen.engine.sched.SchedulerConfig;
import io.vqwen.engine.sched.Sequence;
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
 * The decoder with continuous batching: one step thread loops schedule -> execute -> sample -> append (vLLM's
 * EngineCore.step). Requests join and leave the batch between steps. The step thread decides EOS and max_tokens
 * and posts each sampled id to the {@link OutputProcessor}, whose own thread detokenizes, matches stop strings and
 * calls the listeners.
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
    private final OutputProcessor output;
    private final AtomicInteger pending = new AtomicInteger();
    private final Thread stepThread;
    private volatile boolean accepting = true;
    private volatile boolean stopped;
    private volatile EngineStats stats;
    private long steps;

    /** Per-request state the scheduler carries as its payload. */
    private final class Request implements RequestHandle, RequestOutput.Control {
        final GenerationRequest req;
        final RequestOutput out;
        final long seed; // keys the request's draws (Sampler, the device's Gumbel noise)
        final int[] imageRowOfPosition; // prompt position -> row of imageEmbeddings, or -1
        final long arrival = System.nanoTime();
        long firstScheduled, firstToken;
        Sequence<Request> seq;
        boolean done;
        StepTrace trace = StepTrace.NONE;

        Request(GenerationRequest req, GenerationListener listener) {
            this.req = req;
            this.out = new RequestOutput(req, listener, this, tokenizer.stream());
            Long s = req.sampling().seed();
            this.seed = s != null ? s : System.nanoTime() ^ Thread.currentThread().threadId();
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

        /** This step's sampling of the request; its draws so far are its generated tokens (one draw each). */
        SamplingRow samplingRow() {
            SamplingParams p = req.sampling();
            // The whole history only when a penalty reads it: O(length) per token otherwise for nothing.
            int[] history = p.repetitionPenalty() != 1f ? seq.allIds() : null;
            return new SamplingRow(p.temperature(), p.topP(), p.topK(), p.minP(), p.repetitionPenalty(), seed, seq.outputLength(),
                    history, req.logprobs(), req.topLogprobs());
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

        @Override
        public void abort() {
            cancel();
        }

        @Override
        public Completion completion(String reason, int completionTokens) {
            long end = System.nanoTime();
            double queue = firstScheduled == 0 ? ms(end - arrival) : ms(firstScheduled - arrival);
            double prefill = firstToken == 0 ? 0 : ms(firstToken - firstScheduled);
            double decode = firstToken == 0 ? 0 : ms(end - firstToken);
            double ttft = firstToken == 0 ? 0 : ms(firstToken - arrival);
            double tps = decode > 0 && completionTokens > 1 ? (completionTokens - 1) / (decode / 1000.0) : 0;
            return new Completion(reason, seq.promptLength(), completionTokens, new Timings(queue, prefill, decode, ttft, tps));
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
        this.output = new OutputProcessor(tokenizer);
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
        return submit(req, listener, StepTrace.NONE);
    }

    /** {@link #submit(GenerationRequest, GenerationListener)}, recording the request's decoder spans under {@code trace}. */
    public RequestHandle submit(GenerationRequest req, GenerationListener listener, StepTrace trace) {
        if (!accepting) throw new IllegalStateException("the decoder is shutting down");
        ContextWindow.maxNewTokens(req.promptIds().length, req.maxNewTokens(), options.maxModelLen());
        for (int id : req.promptIds()) {
            if (id < 0 || id >= model.config().vocabSize()) throw new IllegalArgumentException("token id " + id + " is outside the vocabulary");
        }
        if (pending.get() >= options.maxWaiting()) throw new QueueFullException(pending.get());
        Request r = new Request(req, listener);
        Sequence<Request> seq = new Sequence<>(req.requestId(), req.promptIds(), req.maxNewTokens(), r);
        r.seq = seq;
        r.trace = trace;
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
            if (s.running() == 0 && s.waiting() == 0 && inbox.isEmpty() && output.idle()) return true;
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
        output.close();
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
                output.fail(s.payload().out, e);
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
            if (r.firstScheduled == 0) {
                r.firstScheduled = now;
                r.trace.queued(r.arrival, now);
            }
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
        SampledToken[] sampled = null;
        RuntimeException failure = null;
        try {
            sampled = sample(chunks, layout.logitRows().length, logits);
        } catch (RuntimeException e) {
            failure = e; // ends the requests sampled in this step, not the prefills beside them
        } finally {
            backend.free(logits);
        }
        int li = 0;
        for (ScheduledChunk<Request> c : chunks) {
            scheduler.computed(c);
            if (!c.sample()) continue;
            Request r = c.seq().payload();
            if (failure != null) fail(c.seq(), failure);
            else if (!r.done) accept(c.seq(), sampled[li]);
            li++;
        }
        trace(chunks, now, n);
    }

    /** Spans of this step, after the fact: each prefill chunk, and the first token of a prompt that completed. */
    private void trace(List<ScheduledChunk<Request>> chunks, long start, int batchTokens) {
        long end = System.nanoTime();
        for (ScheduledChunk<Request> c : chunks) {
            if (c.start() >= c.seq().promptLength()) continue;
            Request r = c.seq().payload();
            r.trace.prefill(start, end, c.count(), chunks.size(), batchTokens);
            if (c.sample()) r.trace.firstToken(r.arrival, end);
        }
    }

    private void fail(Sequence<Request> seq, Throwable error) {
        LOG.log(Level.WARNING, "request " + seq.id() + " failed", error);
        scheduler.finish(seq);
        if (!seq.payload().done) {
            seq.payload().done = true;
            output.fail(seq.payload().out, error);
        }
    }

    /**
     * One id per sampled row, on the backend. When every sampled request is plain greedy without log-probabilities,
     * only the argmax ids come back (4 bytes a row on a GPU); otherwise the backend's sampling op runs every row.
     */
    private SampledToken[] sample(List<ScheduledChunk<Request>> chunks, int rows, Tensor logits) {
        boolean idsOnly = true;
        for (ScheduledChunk<Request> c : chunks) if (c.sample()) idsOnly &= c.seq().payload().wantsOnlyGreedyId();
        SampledToken[] out = new SampledToken[rows];
        if (rows == 0) return out;
        if (idsOnly) {
            int[] ids = backend.argmax(logits);
            for (int i = 0; i < rows; i++) out[i] = SampledToken.idOnly(ids[i]);
            return out;
        }
        SamplingRow[] params = new SamplingRow[rows];
        int i = 0;
        for (ScheduledChunk<Request> c : chunks) if (c.sample()) params[i++] = c.seq().payload().samplingRow();
        return backend.sample(logits, params);
    }

    /** Appends the id; EOS and max_tokens end the request here, everything the caller sees is the processor's. */
    private void accept(Sequence<Request> seq, SampledToken t) {
        Request r = seq.payload();
        scheduler.append(seq, t.tokenId());
        if (r.firstToken == 0) r.firstToken = System.nanoTime();
        boolean eos = !r.req.ignoreEos() && generation.eosTokenIds().contains(t.tokenId());
        String finish = eos ? "stop" : seq.outputLength() >= r.req.maxNewTokens() ? "length" : null;
        Completion end = null;
        if (finish != null) {
            scheduler.finish(seq);
            r.done = true;
            end = r.completion(finish, seq.outputLength());
        }
        output.token(r.out, t, eos, end);
    }

    private void finish(Request r, String reason) {
        if (r.done) return;
        r.done = true;
        output.finish(r.out, r.completion(reason, r.seq.outputLength()));
    }

    private void failAll(Throwable t) {
        for (Sequence<Request> s : scheduler.running()) {
            scheduler.finish(s);
            if (!s.payload().done) {
                s.payload().done = true;
                output.fail(s.payload().out, t);
            }
        }
        for (Sequence<Request> s; (s = inbox.poll()) != null; ) {
            pending.decrementAndGet();
            s.payload().done = true;
            output.fail(s.payload().out, t);
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
