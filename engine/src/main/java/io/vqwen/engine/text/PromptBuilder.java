package io.vqwen.engine.text;

import io.vqwen.engine.config.LlavaConfig;
import io.vqwen.engine.template.ChatTemplate;
import java.util.List;
import java.util.Map;

/**
 * Messages -> the model's own chat template -> token ids, with each {@code <image>} token expanded to one token
 * per image embedding (LlavaProcessor: image_seq_length copies).
 */
public final class PromptBuilder {
    private final ChatTemplate template;
    private final Tokenizer tokenizer;
    private final int imageToken;
    private final int tokensPerImage;

    public PromptBuilder(ChatTemplate template, Tokenizer tokenizer, LlavaConfig config) {
        this.template = template;
        this.tokenizer = tokenizer;
        this.imageToken = config.imageTokenIndex();
        this.tokensPerImage = config.imageTokensPerImage();
    }

    public Prompt build(List<?> messages, Map<String, ?> templateKwargs) {
        String rendered = template.render(messages, true, templateKwargs == null ? Map.of() : templateKwargs);
        int[] ids = tokenizer.encode(rendered);
        int images = 0;
        for (int id : ids) if (id == imageToken) images++;
        if (images == 0) return new Prompt(ids, 0, rendered);
        int[] out = new int[ids.length + images * (tokensPerImage - 1)];
        int j = 0;
        for (int id : ids) {
            if (id == imageToken) {
                for (int k = 0; k < tokensPerImage; k++) out[j++] = imageToken;
            } else {
                out[j++] = id;
            }
        }
        return new Prompt(out, images, rendered);
    }

    public int imageToken() {
        return imageToken;
    }

    public int tokensPerImage() {
        return tokensPerImage;
    }
}
