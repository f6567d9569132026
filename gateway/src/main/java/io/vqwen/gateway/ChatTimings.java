package io.vqwen.gateway;

/**
 * The {@code timings} extension object of every chat response, in milliseconds, with the CLI's field names.
 *
 * @param encodeMs       this request's wait for its image embeddings (vision + projector over gRPC; ~0 on a cache hit)
 * @param queueMs        time in the decoder's waiting queue
 * @param prefillMs      the decoder's prefill of the prompt
 * @param decodeMs       decoding after the first token
 * @param ttftMs         arrival at the gateway to the first token, as the client sees it
 * @param tokensPerS     generated tokens per second of decode
 * @param embeddingCache "hit" when every image's embeddings came from the cache, "miss" when one was encoded, null
 *                       without images
 */
public record ChatTimings(double encodeMs, double queueMs, double prefillMs, double decodeMs, double ttftMs,
                          double tokensPerS, String embeddingCache) {
}
