package io.vqwen.decoder;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

class PrefillBudgetTest {
    @Test
    void zeroPicksTheBackendsDefaultAGpuStepHoldsSeveralImagePrompts() {
        assertEquals(512, DecoderModel.prefillBudget(0, "cpu"));
        assertEquals(8192, DecoderModel.prefillBudget(0, "cuda:0"));
        assertTrue(DecoderModel.prefillBudget(0, "cuda:1") >= 8 * 592, "8 image prompts of 592 tokens in one step");
    }

    @Test
    void aConfiguredBudgetWinsOnEveryBackend() {
        assertEquals(2048, DecoderModel.prefillBudget(2048, "cuda:0"));
        assertEquals(64, DecoderModel.prefillBudget(64, "cpu"));
    }

    @Test
    void aNegativeBudgetIsRefusedWithThePropertyName() {
        var e = assertThrows(IllegalArgumentException.class, () -> DecoderModel.prefillBudget(-1, "cpu"));
        assertTrue(e.getMessage().contains("vqwen.decoder.prefill-token-budget"), e.getMessage());
    }
}
