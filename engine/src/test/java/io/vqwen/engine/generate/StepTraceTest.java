package io.vqwen.engine.generate;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.opentelemetry.api.common.AttributeKey;
import io.opentelemetry.api.trace.Span;
import io.opentelemetry.api.trace.Tracer;
import io.opentelemetry.context.Context;
import io.opentelemetry.sdk.common.CompletableResultCode;
import io.opentelemetry.sdk.trace.SdkTracerProvider;
import io.opentelemetry.sdk.trace.data.SpanData;
import io.opentelemetry.sdk.trace.export.SimpleSpanProcessor;
import io.opentelemetry.sdk.trace.export.SpanExporter;
import io.vqwen.engine.Fixture;
import io.vqwen.engine.config.GenerationConfig;
import io.vqwen.engine.cpu.CpuBackend;
import io.vqwen.engine.model.Checkpoint;
import io.vqwen.engine.safetensors.SafeTensors;
import io.vqwen.engine.text.Tokenizer;
import io.vqwen.engine.pipeline.ImageEmbeddings;
import java.util.Collection;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

/** The decoder's spans of a request, on the bundled fixture, with a prefill budget that chunks its image prompt. */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class StepTraceTest {
    static final int BUDGET = 16;
    final List<SpanData> exported = new CopyOnWriteArrayList<>();
    SdkTracerProvider provider;
    Tracer tracer;
    CpuBackend backend;
    Checkpoint ckpt;
    SafeTensors golden;
    DecoderEngine engine;

    @BeforeAll
    void setUp() throws Exception {
        provider = SdkTracerProvider.builder().addSpanProcessor(SimpleSpanProcessor.create(new SpanExporter() {
            @Override
            public CompletableResultCode export(Collection<SpanData> spans) {
                exported.addAll(spans);
                return CompletableResultCode.ofSuccess();
            }

            @Override
            public CompletableResultCode flush() {
                return CompletableResultCode.ofSuccess();
            }

            @Override
            public CompletableResultCode shutdown() {
                return CompletableResultCode.ofSuccess();
            }
        })).build();
        tracer = provider.get("test");
        Fixture f = Fixture.tiny();
        backend = new CpuBackend();
        ckpt = Checkpoint.open(f.dir());
        golden = f.golden();
        engine = new DecoderEngine(ckpt, backend, Tokenizer.load(f.dir()), GenerationConfig.load(f.dir(), ckpt.config().textConfig()),
                new DecoderOptions(4, 1024, 256, 16, BUDGET, 16));
    }

    @AfterAll
    void tearDown() {
        engine.close();
        golden.close();
        ckpt.close();
        backend.close();
        provider.close();
    }

    private int[] generate(int[] prompt, float[] embeddings, StepTrace trace) throws Exception {
        Collector c = new Collector();
        int hidden = engine.hiddenSize();
        engine.submit(GenerationRequest.greedy("r", prompt, embeddings == null ? null : ImageEmbeddings.f32(embeddings, embeddings.length / hidden, hidden), 4), c, trace);
        return c.result().get(60, TimeUnit.SECONDS).tokenIds();
    }

    @Test
    void aRequestRecordsItsQueueEachPrefillChunkAndItsFirstTokenUnderItsParent() throws Exception {
        int[] prompt = golden.tensor("input_ids").toIntArray();
        float[] projected = golden.tensor("projected").toFloatArray();
        int[] untraced = generate(prompt, projected, StepTrace.NONE);
        exported.clear();
        Span parent = tracer.spanBuilder("server").startSpan();
        int[] traced = generate(prompt, projected, new StepTrace(tracer, Context.root().with(parent)));
        parent.end();
        assertArrayEquals(untraced, traced, "tracing changes no token");

        List<SpanData> mine = exported.stream().filter(s -> s.getParentSpanId().equals(parent.getSpanContext().getSpanId())).toList();
        assertEquals(exported.size() - 1, mine.size(), "every decoder span is a child of the request's span: " + exported);
        List<SpanData> prefill = byName(mine, "decoder.prefill");
        assertEquals((prompt.length + BUDGET - 1) / BUDGET, prefill.size(), "one span per prefill chunk of at most " + BUDGET + " tokens");
        long tokens = prefill.stream().mapToLong(s -> s.getAttributes().get(AttributeKey.longKey("vqwen.tokens"))).sum();
        assertEquals(prompt.length, tokens, "the chunks cover the prompt");
        assertTrue(prefill.stream().allMatch(s -> s.getAttributes().get(AttributeKey.longKey("vqwen.batch_size")) == 1));
        SpanData queue = byName(mine, "decoder.queue").getFirst();
        SpanData first = byName(mine, "decoder.first_token").getFirst();
        assertEquals(queue.getStartEpochNanos(), first.getStartEpochNanos(), "both start at the request's arrival");
        long firstChunk = prefill.stream().mapToLong(SpanData::getStartEpochNanos).min().orElseThrow();
        long lastChunk = prefill.stream().mapToLong(SpanData::getEndEpochNanos).max().orElseThrow();
        assertTrue(queue.getEndEpochNanos() <= firstChunk, "queued until the first chunk ran");
        assertEquals(lastChunk, first.getEndEpochNanos(), "the first token comes out of the last prefill chunk's step");
    }

    @Test
    void withoutASampledParentNothingIsRecorded() throws Exception {
        exported.clear();
        generate(golden.tensor("text_input_ids").toIntArray(), null, new StepTrace(tracer, Context.root()));
        generate(golden.tensor("text_input_ids").toIntArray(), null, StepTrace.NONE);
        assertEquals(List.of(), exported);
    }

    private static List<SpanData> byName(List<SpanData> spans, String name) {
        List<SpanData> out = spans.stream().filter(s -> s.getName().equals(name)).toList();
        assertTrue(!out.isEmpty(), "no span " + name + " in " + spans.stream().map(SpanData::getName).toList());
        return out;
    }
}
