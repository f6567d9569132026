package io.vqwen.gateway;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonToken;
import com.fasterxml.jackson.core.StreamReadConstraints;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;
import org.tukaani.xz.XZInputStream;

/**
 * The raw UTF-8 bytes of each token, for the {@code bytes} field of OpenAI logprobs. A byte-level BPE token can be
 * part of a character (an emoji is three tokens), so its decoded text alone would be U+FFFD; the bytes come from
 * the vocabulary piece through GPT-2's byte-to-unicode table instead.
 */
public final class TokenBytes {
    private final byte[][] byId;

    private TokenBytes(byte[][] byId) {
        this.byId = byId;
    }

    /** The token's bytes, or null for an id outside the vocabulary. */
    public byte[] of(int id) {
        return id >= 0 && id < byId.length ? byId[id] : null;
    }

    public int size() {
        return byId.length;
    }

    /** Reads the vocabulary and added tokens of tokenizer.json or tokenizer.json.xz in {@code modelDir}. */
    public static TokenBytes load(Path modelDir) throws IOException {
        Path plain = modelDir.resolve("tokenizer.json");
        Path xz = modelDir.resolve("tokenizer.json.xz");
        if (Files.isRegularFile(plain)) {
            try (InputStream in = Files.newInputStream(plain)) {
                return read(in);
            }
        }
        if (Files.isRegularFile(xz)) {
            try (InputStream in = new XZInputStream(Files.newInputStream(xz))) {
                return read(in);
            }
        }
        throw new IllegalArgumentException("no tokenizer.json in " + modelDir);
    }

    static TokenBytes read(InputStream in) throws IOException {
        JsonFactory f = JsonFactory.builder()
                .streamReadConstraints(StreamReadConstraints.builder().maxStringLength(Integer.MAX_VALUE).build()).build();
        Map<Integer, String> pieces = new HashMap<>();
        Map<Integer, String> added = new HashMap<>();
        boolean byteLevel = false;
        try (JsonParser p = f.createParser(in)) {
            expect(p.nextToken(), JsonToken.START_OBJECT);
            while (p.nextToken() == JsonToken.FIELD_NAME) {
                String field = p.currentName();
                p.nextToken();
                switch (field) {
                    case "added_tokens" -> {
                        while (p.nextToken() == JsonToken.START_OBJECT) {
                            Integer id = null;
                            String content = null;
                            while (p.nextToken() == JsonToken.FIELD_NAME) {
                                String k = p.currentName();
                                p.nextToken();
                                if (k.equals("id")) id = p.getIntValue();
                                else if (k.equals("content")) content = p.getText();
                                else p.skipChildren();
                            }
                            if (id != null && content != null) added.put(id, content);
                        }
                    }
                    case "model" -> {
                        while (p.nextToken() == JsonToken.FIELD_NAME) {
                            String k = p.currentName();
                            p.nextToken();
                            if (k.equals("vocab") && p.currentToken() == JsonToken.START_OBJECT) {
                                while (p.nextToken() == JsonToken.FIELD_NAME) {
                                    String piece = p.currentName();
                                    p.nextToken();
                                    pieces.put(p.getIntValue(), piece);
                                }
                            } else {
                                p.skipChildren();
                            }
                        }
                    }
                    case "decoder" -> {
                        if (p.currentToken() == JsonToken.START_OBJECT) {
                            while (p.nextToken() == JsonToken.FIELD_NAME) {
                                String k = p.currentName();
                                p.nextToken();
                                if (k.equals("type") && p.getText().equals("ByteLevel")) byteLevel = true;
                                else p.skipChildren();
                            }
                        }
                    }
                    default -> p.skipChildren();
                }
            }
        }
        int n = 0;
        for (int id : pieces.keySet()) n = Math.max(n, id + 1);
        for (int id : added.keySet()) n = Math.max(n, id + 1);
        int[] unicodeToByte = byteLevel ? unicodeToByte() : null;
        byte[][] byId = new byte[n][];
        for (var e : pieces.entrySet()) byId[e.getKey()] = decodePiece(e.getValue(), unicodeToByte);
        // Added tokens (<|im_end|>, <image>) are literal text, not byte-mapped pieces.
        for (var e : added.entrySet()) byId[e.getKey()] = e.getValue().getBytes(StandardCharsets.UTF_8);
        return new TokenBytes(byId);
    }

    private static byte[] decodePiece(String piece, int[] unicodeToByte) {
        if (unicodeToByte == null) return piece.getBytes(StandardCharsets.UTF_8);
        byte[] out = new byte[piece.length()];
        for (int i = 0; i < piece.length(); i++) {
            char c = piece.charAt(i);
            int b = c < unicodeToByte.length ? unicodeToByte[c] : -1;
            if (b < 0) return piece.getBytes(StandardCharsets.UTF_8); // not a byte-level piece
            out[i] = (byte) b;
        }
        return out;
    }

    /** Inverse of GPT-2's bytes_to_unicode: printable bytes map to themselves, the rest to U+0100 onwards. */
    static int[] unicodeToByte() {
        int[] inv = new int[512];
        java.util.Arrays.fill(inv, -1);
        int next = 0;
        for (int b = 0; b < 256; b++) {
            boolean printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
            int cp = printable ? b : 256 + next++;
            inv[cp] = b;
        }
        return inv;
    }

    private static void expect(JsonToken got, JsonToken want) throws IOException {
        if (got != want) throw new IOException("tokenizer.json: expected " + want + ", got " + got);
    }
}
