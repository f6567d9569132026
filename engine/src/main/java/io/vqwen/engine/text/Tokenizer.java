package io.vqwen.engine.text;

import ai.djl.huggingface.tokenizers.Encoding;
import ai.djl.huggingface.tokenizers.HuggingFaceTokenizer;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.tukaani.xz.XZInputStream;

/**
 * The model's tokenizer.json through DJL's binding of Hugging Face tokenizers. Options matter: DJL otherwise
 * truncates at 512 tokens, and it must not phone home (DJL_OFFLINE is set by every launcher).
 */
public final class Tokenizer implements AutoCloseable {
    private static final Map<String, String> OPTIONS = Map.of(
            "truncation", "false", "padding", "false", "addSpecialTokens", "false");
    private final HuggingFaceTokenizer hf;

    private Tokenizer(HuggingFaceTokenizer hf) {
        this.hf = hf;
    }

    /** Reads tokenizer.json, or tokenizer.json.xz (how the repository ships it). */
    public static Tokenizer load(Path modelDir) throws IOException {
        if (System.getenv("DJL_OFFLINE") == null) System.setProperty("offline", "true");
        System.setProperty("ai.djl.offline", "true");
        Path plain = modelDir.resolve("tokenizer.json");
        Path xz = modelDir.resolve("tokenizer.json.xz");
        if (Files.isRegularFile(plain)) {
            try (InputStream in = Files.newInputStream(plain)) {
                return new Tokenizer(HuggingFaceTokenizer.newInstance(in, OPTIONS));
            }
        }
        if (Files.isRegularFile(xz)) {
            try (InputStream in = new XZInputStream(Files.newInputStream(xz))) {
                return new Tokenizer(HuggingFaceTokenizer.newInstance(in, OPTIONS));
            }
        }
        throw new IllegalArgumentException("no tokenizer.json in " + modelDir);
    }

    public int[] encode(String text) {
        Encoding e = hf.encode(text, false, false);
        long[] ids = e.getIds();
        int[] out = new int[ids.length];
        for (int i = 0; i < ids.length; i++) out[i] = (int) ids[i];
        return out;
    }

    /** Decodes ids, dropping special tokens (as transformers' skip_special_tokens=True). */
    public String decode(int[] ids) {
        long[] l = new long[ids.length];
        for (int i = 0; i < ids.length; i++) l[i] = ids[i];
        return hf.decode(l, true);
    }

    /** The text of one token as it reads in isolation (for logprobs); special tokens are kept. */
    public String tokenText(int id) {
        return hf.decode(new long[] {id}, false);
    }

    public StreamingDetokenizer stream() {
        return new StreamingDetokenizer(this);
    }

    @Override
    public void close() {
        hf.close();
    }
}
