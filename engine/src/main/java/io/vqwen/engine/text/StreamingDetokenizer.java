package io.vqwen.engine.text;

import java.util.ArrayList;
import java.util.List;

/**
 * Turns a stream of token ids into text deltas that never split a character: byte-level BPE can spend several
 * tokens on one emoji, and decoding a prefix of them yields U+FFFD. Like TGI's decode_token, it decodes a short
 * window of recent tokens and emits only text that has stopped changing.
 */
public final class StreamingDetokenizer {
    private final Tokenizer tokenizer;
    private final List<Integer> ids = new ArrayList<>();
    private int prefixOffset;
    private int readOffset;

    StreamingDetokenizer(Tokenizer tokenizer) {
        this.tokenizer = tokenizer;
    }

    /** Adds a token; returns the text it completes (possibly empty). */
    public String add(int id) {
        ids.add(id);
        String prefix = decode(prefixOffset, readOffset);
        String full = decode(prefixOffset, ids.size());
        if (full.length() > prefix.length() && !full.endsWith("\uFFFD")) {
            String delta = full.substring(prefix.length());
            prefixOffset = readOffset;
            readOffset = ids.size();
            return delta;
        }
        return "";
    }

    /** Whatever is still held back at the end of the stream (an incomplete character stays as U+FFFD). */
    public String flush() {
        String prefix = decode(prefixOffset, readOffset);
        String full = decode(prefixOffset, ids.size());
        prefixOffset = readOffset = ids.size();
        return full.length() > prefix.length() ? full.substring(prefix.length()) : "";
    }

    private String decode(int from, int to) {
        if (from >= to) return "";
        int[] window = new int[to - from];
        for (int i = from; i < to; i++) window[i - from] = ids.get(i);
        return tokenizer.decode(window);
    }
}
