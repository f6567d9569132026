package io.vqwen.service;

import io.vqwen.engine.generate.Completion;
import io.vqwen.engine.generate.GenerationParams;
import io.vqwen.engine.generate.GenerationRequest;
import io.vqwen.engine.generate.SamplingParams;
import io.vqwen.engine.generate.Timings;
import io.vqwen.engine.generate.TokenDelta;
import io.vqwen.engine.generate.TokenLogprob;
import io.vqwen.engine.generate.TopLogprob;
import io.vqwen.engine.pipeline.ImageEmbeddings;
import io.vqwen.proto.v1.GenerateChunk;
import io.vqwen.proto.v1.GenerateRequest;
import io.vqwen.proto.v1.Usage;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;

/**
 * Engine requests and events <-> the proto, in one place: each side of every hop calls these, so a parameter added
 * to the engine is added here once (TGI's NextTokenChooserParameters). proto3 has no "absent" for scalars; the
 * rule "0 means off" for top_p and repetition_penalty lives in {@link #sampling(io.vqwen.proto.v1.SamplingParams)}.
 */
public final class EngineCodec {
    private EngineCodec() {
    }

    // ---- sampling ------------------------------------------------------------------------------------------

    public static io.vqwen.proto.v1.SamplingParams sampling(SamplingParams s) {
        var b = io.vqwen.proto.v1.SamplingParams.newBuilder().setTemperature(s.temperature()).setTopP(s.topP()).setTopK(s.topK())
                .setMinP(s.minP()).setRepetitionPenalty(s.repetitionPenalty());
        if (s.seed() != null) b.setSeed(s.seed());
        return b.build();
    }

    /** proto3 zeros mean "off": top_p 0 and repetition_penalty 0 are the engine's 1. */
    public static SamplingParams sampling(io.vqwen.proto.v1.SamplingParams s) {
        return new SamplingParams(s.getTemperature(), s.getTopP() == 0 ? 1f : s.getTopP(), s.getTopK(), s.getMinP(),
                s.getRepetitionPenalty() == 0 ? 1f : s.getRepetitionPenalty(), s.hasSeed() ? s.getSeed() : null);
    }

    // ---- requests ------------------------------------------------------------------------------------------

    /** A request whose images are handles (the mesh's way: embeddings never pass through the caller). */
    public static GenerateRequest request(String id, int[] promptIds, List<String> imageSha256s, int maxNewTokens, GenerationParams p) {
        GenerateRequest.Builder b = GenerateRequest.newBuilder().setRequestId(id).addAllImageSha256(imageSha256s);
        for (int t : promptIds) b.addPromptTokenIds(t);
        return b.setSampling(sampling(p.sampling())).addAllStop(p.stop()).setMaxTokens(maxNewTokens).setLogprobs(p.logprobs())
                .setTopLogprobs(p.topLogprobs()).setIgnoreEos(p.ignoreEos()).build();
    }

    /** A request with its embeddings inline (for gRPC clients that send tensors). */
    public static GenerateRequest request(GenerationRequest r) {
        GenerateRequest base = request(r.requestId(), r.promptIds(), List.of(), r.maxNewTokens(), r.params());
        return r.imageEmbeddings() == null ? base : base.toBuilder().setImageEmbeddings(TensorCodec.encode(r.imageEmbeddings())).build();
    }

    public static GenerationParams params(GenerateRequest r) {
        return new GenerationParams(sampling(r.getSampling()), r.getStopList(), r.getLogprobs(), r.getTopLogprobs(), r.getIgnoreEos());
    }

    public static int[] promptIds(GenerateRequest r) {
        return r.getPromptTokenIdsList().stream().mapToInt(Integer::intValue).toArray();
    }

    /** The caller's id, or a fresh one when it sent none. */
    public static String requestId(GenerateRequest r) {
        return r.getRequestId().isEmpty() ? UUID.randomUUID().toString() : r.getRequestId();
    }

    /** An engine request from a proto one with inline embeddings (or none); a request with handles is resolved first. */
    public static GenerationRequest toEngine(GenerateRequest r, ImageEmbeddings resolved) {
        ImageEmbeddings images = resolved;
        if (images == null && r.hasImageEmbeddings()) images = TensorCodec.decodeEmbeddings(r.getImageEmbeddings(), "image_embeddings", -1);
        return GenerationRequest.of(requestId(r), promptIds(r), images, r.getMaxTokens(), params(r));
    }

    // ---- events --------------------------------------------------------------------------------------------

    public static GenerateChunk chunk(TokenDelta d) {
        GenerateChunk.Builder c = GenerateChunk.newBuilder().setText(d.text());
        for (int id : d.tokenIds()) c.addTokenIds(id);
        for (TokenLogprob lp : d.logprobs()) {
            var b = io.vqwen.proto.v1.TokenLogprob.newBuilder().setTokenId(lp.tokenId()).setToken(lp.token()).setLogprob(lp.logprob());
            for (TopLogprob t : lp.top()) {
                b.addTop(io.vqwen.proto.v1.TopLogprob.newBuilder().setTokenId(t.tokenId()).setToken(t.token()).setLogprob(t.logprob()));
            }
            c.addLogprobs(b);
        }
        return c.build();
    }

    public static GenerateChunk chunk(Completion c) {
        Timings t = c.timings();
        return GenerateChunk.newBuilder()
                .setFinishReason(c.finishReason())
                .setUsage(Usage.newBuilder().setPromptTokens(c.promptTokens()).setCompletionTokens(c.completionTokens()))
                .setTimings(io.vqwen.proto.v1.Timings.newBuilder().setQueueMs(t.queueMs()).setPrefillMs(t.prefillMs())
                        .setDecodeMs(t.decodeMs()).setTtftMs(t.ttftMs()).setTokensPerS(t.tokensPerS()))
                .build();
    }

    /** The delta part of a chunk, or null when it carries no tokens and no text. */
    public static TokenDelta delta(GenerateChunk c) {
        if (c.getTokenIdsCount() == 0 && c.getText().isEmpty()) return null;
        int[] ids = new int[c.getTokenIdsCount()];
        for (int i = 0; i < ids.length; i++) ids[i] = c.getTokenIds(i);
        List<TokenLogprob> lps = new ArrayList<>(c.getLogprobsCount());
        for (var lp : c.getLogprobsList()) {
            List<TopLogprob> top = new ArrayList<>(lp.getTopCount());
            for (var t : lp.getTopList()) top.add(new TopLogprob(t.getTokenId(), t.getToken(), t.getLogprob()));
            lps.add(new TokenLogprob(lp.getTokenId(), lp.getToken(), lp.getLogprob(), top));
        }
        return new TokenDelta(ids, c.getText(), lps);
    }

    /** The completion of a last chunk, or null when the chunk is not the last. */
    public static Completion completion(GenerateChunk c) {
        if (c.getFinishReason().isEmpty()) return null;
        var t = c.getTimings();
        return new Completion(c.getFinishReason(), c.getUsage().getPromptTokens(), c.getUsage().getCompletionTokens(),
                new Timings(t.getQueueMs(), t.getPrefillMs(), t.getDecodeMs(), t.getTtftMs(), t.getTokensPerS()));
    }
}
