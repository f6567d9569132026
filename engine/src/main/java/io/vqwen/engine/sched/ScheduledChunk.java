package io.vqwen.engine.sched;

/**
 * Part of one step: tokens [start, start + count) of a sequence go through the model. When {@code sample} is set
 * the chunk reaches the end of the sequence's known tokens and the step samples its next token.
 */
public record ScheduledChunk<P>(Sequence<P> seq, int start, int count, boolean sample) {
}
