package io.vqwen.service;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

import io.vqwen.engine.generate.Completion;
import io.vqwen.engine.generate.GenerationParams;
import io.vqwen.engine.generate.GenerationRequest;
import io.vqwen.engine.generate.SamplingParams;
import io.vqwen.engine.generate.Timings;
import io.vqwen.engine.generate.TokenDelta;
import io.vqwen.engine.generate.TokenLogprob;
import io.vqwen.engine.generate.TopLogprob;
import io.vqwen.engine.pipeline.Bf16;
import io.vqwen.engine.pipeline.ImageEmbeddings;
import io.vqwen.proto.v1.DType;
import io.vqwen.proto.v1.GenerateChunk;
import io.vqwen.proto.v1.GenerateRequest;
import io.vqwen.proto.v1.Tensor;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

class EngineCodecTest {
    @Test
    void aRequestWithHandlesRoundTripsEveryParameter() {
        GenerationParams p = new GenerationParams(new SamplingParams(0.7f, 0.9f, 40, 0.05f, 1.1f, 1234L), List.of("\n\n", "END"), true, 5, true);
        GenerateRequest r = EngineCodec.request("req-1", new int[] {1, 2, 3}, List.of("ab".repeat(32)), 17, p);
        assertEquals(List.of("ab".repeat(32)), r.getImageSha256List());
        assertEquals(p, EngineCodec.params(r));
        assertArrayEquals(new int[] {1, 2, 3}, EngineCodec.promptIds(r));
        assertEquals(17, r.getMaxTokens());
        assertEquals("req-1", EngineCodec.requestId(r));
    }

    @Test
    void proto3ZerosMeanOffAndAnAbsentSeedStaysAbsent() {
        SamplingParams s = EngineCodec.sampling(io.vqwen.proto.v1.SamplingParams.newBuilder().setTemperature(0.5f).build());
        assertEquals(new SamplingParams(0.5f, 1f, 0, 0f, 1f, null), s);
        assertEquals(SamplingParams.greedy(), EngineCodec.sampling(EngineCodec.sampling(SamplingParams.greedy())));
    }

    @Test
    void inlineBf16EmbeddingsCrossWithTheirBitsAndHalfTheBytes() {
        SplittableRandom rnd = new SplittableRandom(3);
        short[] bits = new short[4 * 6];
        for (int i = 0; i < bits.length; i++) bits[i] = Bf16.fromFloat((float) rnd.nextGaussian());
        ImageEmbeddings e = ImageEmbeddings.bf16(bits, 4, 6);
        GenerateRequest wire = EngineCodec.request(GenerationRequest.greedy("x", new int[] {5}, e, 3));
        Tensor t = wire.getImageEmbeddings();
        assertEquals(DType.BF16, t.getDtype());
        assertEquals(48, t.getData().size());
        GenerationRequest back = EngineCodec.toEngine(wire, null);
        assertEquals(ImageEmbeddings.Dtype.BF16, back.imageEmbeddings().dtype());
        assertArrayEquals(bits, back.imageEmbeddings().toBf16());
        float[] f = new float[] {1.1f, -2.2f, 3.3f, 1e-30f, 7f, 8f};
        assertArrayEquals(f, TensorCodec.decodeEmbeddings(TensorCodec.encode(ImageEmbeddings.f32(f, 2, 3)), "x", 3).toF32(), "f32 is exact");
    }

    @Test
    void deltasAndCompletionsRoundTrip() {
        TokenDelta d = new TokenDelta(new int[] {9, 10}, "hi", List.of(new TokenLogprob(9, "h", -0.5f, List.of(new TopLogprob(9, "h", -0.5f),
                new TopLogprob(3, "x", -1.5f)))));
        TokenDelta back = EngineCodec.delta(EngineCodec.chunk(d));
        assertArrayEquals(d.tokenIds(), back.tokenIds());
        assertEquals(d.text(), back.text());
        assertEquals(d.logprobs(), back.logprobs());
        Completion c = new Completion("length", 12, 4, new Timings(1, 2, 3, 4, 5));
        GenerateChunk last = EngineCodec.chunk(c);
        assertEquals(c, EngineCodec.completion(last));
        assertNull(EngineCodec.delta(last), "the last chunk carries no delta");
        assertNull(EngineCodec.completion(EngineCodec.chunk(d)));
    }
}
