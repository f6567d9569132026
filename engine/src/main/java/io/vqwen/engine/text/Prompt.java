package io.vqwen.engine.text;

/** A tokenized prompt: image tokens already expanded to tokensPerImage copies per image. */
public record Prompt(int[] ids, int imageCount, String rendered) {
}
