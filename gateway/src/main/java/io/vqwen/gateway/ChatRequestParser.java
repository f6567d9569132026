package io.vqwen.gateway;

import com.fasterxml.jackson.core.JacksonException;
import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.StreamReadConstraints;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.vqwen.engine.generate.SamplingParams;
import java.net.URI;
import java.net.URISyntaxException;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;

/**
 * The OpenAI chat-completions request body -> {@link ChatCall}, or a 400 naming the field. Parameters are checked
 * against what the pipeline implements: anything else is refused by name, never silently ignored (a parameter at
 * its neutral value, such as {@code n: 1}, is accepted because it asks for nothing).
 */
public final class ChatRequestParser {
    /** OpenAI caps top_logprobs at 20. */
    public static final int MAX_TOP_LOGPROBS = 20;

    private static final Set<String> SUPPORTED = Set.of(
            "model", "messages", "max_tokens", "max_completion_tokens", "temperature", "top_p", "seed", "stop",
            "stream", "stream_options", "logprobs", "top_logprobs", "chat_template_kwargs", "user",
            // vLLM's extensions of the same request
            "top_k", "min_p", "repetition_penalty", "ignore_eos", "return_tokens_as_token_ids");
    /** OpenAI parameters we do not implement (refused unless at their neutral value). */
    private static final Set<String> KNOWN_UNSUPPORTED = Set.of(
            "n", "presence_penalty", "frequency_penalty", "logit_bias", "tools", "tool_choice", "functions",
            "function_call", "response_format", "parallel_tool_calls", "store", "metadata", "modalities", "audio",
            "prediction", "reasoning_effort", "service_tier", "web_search_options", "best_of", "echo", "suffix",
            "guided_json", "guided_regex", "guided_choice", "structured_outputs");
    private static final Set<String> ROLES = Set.of("system", "developer", "user", "assistant");

    private static final ObjectMapper JSON = new ObjectMapper(JsonFactory.builder()
            // The body size limit bounds strings; Jackson's own 20M-char default would cut a large data URL first.
            .streamReadConstraints(StreamReadConstraints.builder().maxStringLength(Integer.MAX_VALUE).build())
            .build())
            .enable(com.fasterxml.jackson.databind.DeserializationFeature.FAIL_ON_TRAILING_TOKENS);

    private final long maxImageBytes;
    private final Set<String> allowedImageHosts;

    public ChatRequestParser(long maxImageBytes, Set<String> allowedImageHosts) {
        this.maxImageBytes = maxImageBytes;
        this.allowedImageHosts = Set.copyOf(allowedImageHosts);
    }

    public ChatCall parse(byte[] body) {
        return parse(readObject(body));
    }

    /** Parses a JSON body, refusing anything but an object. */
    public static JsonNode readObject(byte[] body) {
        if (body == null || body.length == 0) {
            throw ApiException.invalid(null, "The request body is empty; expected a JSON object.");
        }
        JsonNode root;
        try {
            root = JSON.readTree(body);
        } catch (JacksonException e) {
            String why = e.getOriginalMessage();
            int src = why.indexOf(" (start marker at [Source");
            if (src > 0) why = why.substring(0, src); // Jackson's source description says nothing to a client
            throw ApiException.invalid(null, "We could not parse the JSON body of your request: " + why + location(e) + ".");
        } catch (java.io.IOException e) {
            throw ApiException.invalid(null, "We could not read the JSON body of your request: " + e.getMessage());
        }
        if (root == null || !root.isObject()) {
            throw ApiException.invalid(null, "The request body must be a JSON object, got " + kind(root) + ".");
        }
        return root;
    }

    public ChatCall parse(JsonNode root) {
        checkParameters(root);

        String model = optString(root, "model");
        List<Map<String, Object>> templateMessages = new ArrayList<>();
        List<ImageInput> images = new ArrayList<>();
        parseMessages(root.get("messages"), templateMessages, images);

        Integer maxTokens = optPositiveInt(root, "max_completion_tokens");
        if (maxTokens == null) maxTokens = optPositiveInt(root, "max_tokens");

        float temperature = optFloat(root, "temperature", 1f);
        if (!(temperature >= 0)) throw ApiException.invalid("temperature", "temperature must be >= 0, got " + temperature + ".");
        float topP = optFloat(root, "top_p", 1f);
        if (!(topP > 0 && topP <= 1)) throw ApiException.invalid("top_p", "top_p must be in (0, 1], got " + topP + ".");
        int topK = optInt(root, "top_k", 0);
        if (topK == -1) topK = 0; // vLLM's "disabled"
        if (topK < 0) throw ApiException.invalid("top_k", "top_k must be -1 (disabled) or >= 0, got " + topK + ".");
        float minP = optFloat(root, "min_p", 0f);
        if (!(minP >= 0 && minP <= 1)) throw ApiException.invalid("min_p", "min_p must be in [0, 1], got " + minP + ".");
        float repetitionPenalty = optFloat(root, "repetition_penalty", 1f);
        if (!(repetitionPenalty > 0)) {
            throw ApiException.invalid("repetition_penalty", "repetition_penalty must be > 0, got " + repetitionPenalty + ".");
        }
        Long seed = optLong(root, "seed");
        SamplingParams sampling = new SamplingParams(temperature, topP, topK, minP, repetitionPenalty, seed);

        List<String> stop = parseStop(root.get("stop"));

        boolean stream = optBool(root, "stream", false);
        boolean includeUsage = false;
        JsonNode so = present(root, "stream_options");
        if (so != null) {
            if (!stream) throw ApiException.invalid("stream_options", "stream_options is only allowed when stream is true.");
            if (!so.isObject()) throw ApiException.invalid("stream_options", "stream_options must be an object, got " + kind(so) + ".");
            for (Iterator<String> it = so.fieldNames(); it.hasNext(); ) {
                String k = it.next();
                if (!k.equals("include_usage") && !so.get(k).isNull()) {
                    throw ApiException.unsupported("stream_options." + k, "Unsupported parameter: stream_options." + k
                            + " (only include_usage is supported).");
                }
            }
            includeUsage = optBool(so, "include_usage", false, "stream_options.include_usage");
        }

        boolean logprobs = optBool(root, "logprobs", false);
        int topLogprobs = optInt(root, "top_logprobs", 0);
        if (topLogprobs < 0 || topLogprobs > MAX_TOP_LOGPROBS) {
            throw ApiException.invalid("top_logprobs", "top_logprobs must be between 0 and " + MAX_TOP_LOGPROBS + ", got " + topLogprobs + ".");
        }
        if (topLogprobs > 0 && !logprobs) {
            throw ApiException.invalid("top_logprobs", "top_logprobs requires logprobs to be true.");
        }

        Map<String, Object> kwargs = Map.of();
        JsonNode kw = present(root, "chat_template_kwargs");
        if (kw != null) {
            if (!kw.isObject()) throw ApiException.invalid("chat_template_kwargs", "chat_template_kwargs must be an object, got " + kind(kw) + ".");
            @SuppressWarnings("unchecked")
            Map<String, Object> m = JSON.convertValue(kw, LinkedHashMap.class);
            kwargs = m;
        }

        return new ChatCall(model, templateMessages, images, kwargs, maxTokens, sampling, stop, stream, includeUsage,
                logprobs, topLogprobs, optBool(root, "ignore_eos", false), optBool(root, "return_tokens_as_token_ids", false));
    }

    // ------------------------------------------------------------------ parameters

    private static void checkParameters(JsonNode root) {
        List<String> refused = new ArrayList<>();
        List<String> unknown = new ArrayList<>();
        for (Iterator<String> it = root.fieldNames(); it.hasNext(); ) {
            String k = it.next();
            if (SUPPORTED.contains(k)) continue;
            JsonNode v = root.get(k);
            if (KNOWN_UNSUPPORTED.contains(k)) {
                if (!isNeutral(k, v)) refused.add(k);
            } else {
                unknown.add(k);
            }
        }
        if (!refused.isEmpty()) {
            throw ApiException.unsupported(refused.getFirst(), "Unsupported parameter" + (refused.size() > 1 ? "s" : "") + ": "
                    + String.join(", ", refused) + ". This server does not implement "
                    + (refused.size() > 1 ? "them" : "it") + "; remove " + (refused.size() > 1 ? "them" : "it")
                    + " from the request.");
        }
        if (!unknown.isEmpty()) {
            throw ApiException.unsupported(unknown.getFirst(), "Unrecognized request argument" + (unknown.size() > 1 ? "s" : "")
                    + " supplied: " + String.join(", ", unknown) + ".");
        }
    }

    /** A value that asks for nothing beyond what we do anyway. */
    private static boolean isNeutral(String key, JsonNode v) {
        if (v == null || v.isNull()) return true;
        return switch (key) {
            case "n", "best_of" -> v.isIntegralNumber() && v.asLong() == 1;
            case "presence_penalty", "frequency_penalty" -> v.isNumber() && v.asDouble() == 0;
            case "logit_bias", "metadata" -> v.isObject() && v.isEmpty();
            case "tools", "functions", "modalities" -> v.isArray() && v.isEmpty();
            case "tool_choice", "function_call" -> v.isTextual() && v.asText().equals("none");
            case "response_format" -> v.isObject() && v.path("type").asText().equals("text") && v.size() == 1;
            case "parallel_tool_calls" -> v.isBoolean(); // meaningless without tools, which we refuse
            case "store", "echo" -> v.isBoolean() && !v.asBoolean();
            case "service_tier" -> v.isTextual() && (v.asText().equals("auto") || v.asText().equals("default"));
            default -> false;
        };
    }

    private static List<String> parseStop(JsonNode v) {
        if (v == null || v.isNull()) return List.of();
        List<String> out = new ArrayList<>();
        if (v.isTextual()) {
            out.add(v.asText());
        } else if (v.isArray()) {
            for (int i = 0; i < v.size(); i++) {
                JsonNode s = v.get(i);
                if (!s.isTextual()) throw ApiException.invalid("stop", "stop[" + i + "] must be a string, got " + kind(s) + ".");
                out.add(s.asText());
            }
        } else {
            throw ApiException.invalid("stop", "stop must be a string or an array of strings, got " + kind(v) + ".");
        }
        for (String s : out) if (s.isEmpty()) throw ApiException.invalid("stop", "stop strings must not be empty.");
        return List.copyOf(out);
    }

    // ------------------------------------------------------------------ messages

    private void parseMessages(JsonNode messages, List<Map<String, Object>> out, List<ImageInput> images) {
        if (messages == null || messages.isNull()) {
            throw ApiException.invalid("messages", "Missing required parameter: 'messages'.");
        }
        if (!messages.isArray()) throw ApiException.invalid("messages", "messages must be an array, got " + kind(messages) + ".");
        if (messages.isEmpty()) throw ApiException.invalid("messages", "messages must contain at least one message.");
        for (int i = 0; i < messages.size(); i++) {
            String at = "messages[" + i + "]";
            JsonNode m = messages.get(i);
            if (!m.isObject()) throw ApiException.invalid(at, at + " must be an object, got " + kind(m) + ".");
            for (Iterator<String> it = m.fieldNames(); it.hasNext(); ) {
                String k = it.next();
                if (k.equals("role") || k.equals("content") || k.equals("name")) continue;
                if (m.get(k).isNull()) continue;
                if (k.equals("tool_calls") || k.equals("function_call") || k.equals("tool_call_id") || k.equals("audio")
                        || k.equals("refusal")) {
                    throw ApiException.unsupported(at + "." + k, "Unsupported parameter: " + at + "." + k + " (tools are not supported).");
                }
                throw ApiException.unsupported(at + "." + k, "Unrecognized field " + at + "." + k + ".");
            }
            JsonNode roleNode = m.get("role");
            if (roleNode == null || !roleNode.isTextual()) {
                throw ApiException.invalid(at + ".role", at + ".role is required and must be a string.");
            }
            String role = roleNode.asText();
            if (!ROLES.contains(role)) {
                throw ApiException.invalid(at + ".role", at + ".role '" + role + "' is not supported (supported: "
                        + "system, developer, user, assistant).");
            }
            Map<String, Object> tm = new LinkedHashMap<>();
            tm.put("role", role);
            JsonNode content = m.get("content");
            if (content == null || content.isNull()) {
                throw ApiException.invalid(at + ".content", at + ".content is required.");
            } else if (content.isTextual()) {
                tm.put("content", content.asText());
            } else if (content.isArray()) {
                tm.put("content", parseParts(at + ".content", content, images));
            } else {
                throw ApiException.invalid(at + ".content", at + ".content must be a string or an array of content parts, got "
                        + kind(content) + ".");
            }
            out.add(tm);
        }
    }

    private List<Map<String, Object>> parseParts(String at, JsonNode parts, List<ImageInput> images) {
        List<Map<String, Object>> out = new ArrayList<>();
        for (int j = 0; j < parts.size(); j++) {
            String pat = at + "[" + j + "]";
            JsonNode p = parts.get(j);
            if (!p.isObject()) throw ApiException.invalid(pat, pat + " must be an object, got " + kind(p) + ".");
            JsonNode type = p.get("type");
            if (type == null || !type.isTextual()) throw ApiException.invalid(pat + ".type", pat + ".type is required.");
            switch (type.asText()) {
                case "text" -> {
                    JsonNode text = p.get("text");
                    if (text == null || !text.isTextual()) throw ApiException.invalid(pat + ".text", pat + ".text must be a string.");
                    out.add(Map.of("type", "text", "text", text.asText()));
                }
                case "image_url" -> {
                    JsonNode iu = p.get("image_url");
                    if (iu == null || !iu.isObject() || !iu.path("url").isTextual()) {
                        throw ApiException.invalid(pat + ".image_url", pat + ".image_url must be an object with a string 'url'.");
                    }
                    JsonNode detail = iu.get("detail");
                    if (detail != null && !detail.isNull() && !detail.asText().equals("auto")) {
                        throw ApiException.unsupported(pat + ".image_url.detail", pat + ".image_url.detail '" + detail.asText()
                                + "' is not supported: the vision tower has one fixed resolution (use 'auto' or leave it out).");
                    }
                    images.add(parseImageUrl(pat + ".image_url.url", iu.get("url").asText()));
                    // The template sees an image marker; the pixels travel separately.
                    out.add(Map.of("type", "image"));
                }
                default -> throw ApiException.invalid(pat + ".type", pat + ".type '" + type.asText()
                        + "' is not supported (supported: text, image_url).");
            }
        }
        return out;
    }

    ImageInput parseImageUrl(String param, String url) {
        String lower = url.length() > 16 ? url.substring(0, 16).toLowerCase(Locale.ROOT) : url.toLowerCase(Locale.ROOT);
        if (lower.startsWith("data:")) {
            byte[] bytes = decodeDataUrl(param, url);
            return new ImageInput.Inline(param, bytes, Images.sha256Hex(bytes));
        }
        if (lower.startsWith("sha256:")) {
            String hex = url.substring("sha256:".length()).toLowerCase(Locale.ROOT);
            if (!hex.matches("[0-9a-f]{64}")) {
                throw ApiException.invalid(param, param + ": a sha256: image reference needs 64 hex digits, as POST /v1/images returns.");
            }
            return new ImageInput.Uploaded(param, hex);
        }
        if (lower.startsWith("http://") || lower.startsWith("https://")) {
            if (allowedImageHosts.isEmpty()) {
                throw ApiException.invalid(param, param + ": image URLs over http(s) are disabled on this server. Send the image "
                        + "inline as a data: URL (base64), or upload it with POST /v1/images and refer to it as sha256:<hex>. "
                        + "An operator can allow hosts with vqwen.gateway.allowed-image-hosts.");
            }
            URI uri;
            try {
                uri = new URI(url);
            } catch (URISyntaxException e) {
                throw ApiException.invalid(param, param + ": not a valid URL: " + e.getMessage());
            }
            String host = uri.getHost() == null ? "" : uri.getHost().toLowerCase(Locale.ROOT);
            if (!allowedImageHosts.contains(host)) {
                throw ApiException.invalid(param, param + ": host '" + host + "' is not in vqwen.gateway.allowed-image-hosts.");
            }
            return new ImageInput.Remote(param, uri);
        }
        int colon = url.indexOf(':');
        throw ApiException.invalid(param, param + ": unsupported image URL" + (colon > 0 && colon < 16
                ? " scheme '" + url.substring(0, colon) + "'" : "") + "; use a data: URL (base64) or sha256:<hex> from POST /v1/images.");
    }

    /** RFC 2397 {@code data:[<mediatype>][;base64],<data>}, base64 only. */
    private byte[] decodeDataUrl(String param, String url) {
        int comma = url.indexOf(',');
        if (comma < 0) throw ApiException.invalid(param, param + ": malformed data URL (no ',' before the data).");
        String meta = url.substring("data:".length(), comma).toLowerCase(Locale.ROOT);
        if (!meta.endsWith(";base64")) {
            throw ApiException.invalid(param, param + ": only base64 data URLs are supported (data:image/png;base64,...).");
        }
        int len = url.length() - comma - 1;
        // Refuse before decoding: the decoded size follows from the length.
        int pad = 0;
        for (int i = url.length() - 1; i > comma && pad < 2 && url.charAt(i) == '='; i--) pad++;
        long decoded = (long) len / 4 * 3 - pad;
        if (decoded > maxImageBytes) {
            throw ApiException.invalid(param, param + ": the image is " + Images.describeSize(decoded) + ", over this server's limit of "
                    + Images.describeSize(maxImageBytes) + " (vqwen.gateway.max-image-bytes).");
        }
        byte[] bytes;
        try {
            bytes = java.util.Base64.getDecoder().decode(url.substring(comma + 1));
        } catch (IllegalArgumentException e) {
            throw ApiException.invalid(param, param + ": invalid base64 in the data URL (" + e.getMessage() + ").");
        }
        Images.check(param, bytes, maxImageBytes);
        return bytes;
    }

    // ------------------------------------------------------------------ scalar helpers

    private static JsonNode present(JsonNode o, String key) {
        JsonNode v = o.get(key);
        return v == null || v.isNull() ? null : v;
    }

    private static String optString(JsonNode o, String key) {
        JsonNode v = present(o, key);
        if (v == null) return null;
        if (!v.isTextual()) throw ApiException.invalid(key, key + " must be a string, got " + kind(v) + ".");
        return v.asText();
    }

    private static boolean optBool(JsonNode o, String key, boolean dflt) {
        return optBool(o, key, dflt, key);
    }

    private static boolean optBool(JsonNode o, String key, boolean dflt, String param) {
        JsonNode v = present(o, key);
        if (v == null) return dflt;
        if (!v.isBoolean()) throw ApiException.invalid(param, param + " must be a boolean, got " + kind(v) + ".");
        return v.asBoolean();
    }

    private static Integer optPositiveInt(JsonNode o, String key) {
        JsonNode v = present(o, key);
        if (v == null) return null;
        if (!v.isIntegralNumber() || !v.canConvertToInt()) {
            throw ApiException.invalid(key, key + " must be an integer, got " + kind(v) + (v.isNumber() ? " " + v : "") + ".");
        }
        int n = v.asInt();
        if (n < 1) throw ApiException.invalid(key, key + " must be at least 1, got " + n + ".");
        return n;
    }

    private static int optInt(JsonNode o, String key, int dflt) {
        JsonNode v = present(o, key);
        if (v == null) return dflt;
        if (!v.isIntegralNumber() || !v.canConvertToInt()) throw ApiException.invalid(key, key + " must be an integer, got " + kind(v) + ".");
        return v.asInt();
    }

    private static Long optLong(JsonNode o, String key) {
        JsonNode v = present(o, key);
        if (v == null) return null;
        if (!v.isIntegralNumber() || !v.canConvertToLong()) throw ApiException.invalid(key, key + " must be an integer, got " + kind(v) + ".");
        return v.asLong();
    }

    private static float optFloat(JsonNode o, String key, float dflt) {
        JsonNode v = present(o, key);
        if (v == null) return dflt;
        if (!v.isNumber()) throw ApiException.invalid(key, key + " must be a number, got " + kind(v) + ".");
        double d = v.asDouble();
        if (!Double.isFinite(d)) throw ApiException.invalid(key, key + " must be finite.");
        return (float) d;
    }

    static String kind(JsonNode v) {
        if (v == null || v.isNull()) return "null";
        if (v.isTextual()) return "a string";
        if (v.isBoolean()) return "a boolean";
        if (v.isNumber()) return "a number";
        if (v.isArray()) return "an array";
        if (v.isObject()) return "an object";
        return v.getNodeType().name().toLowerCase(Locale.ROOT);
    }

    private static String location(JacksonException e) {
        var loc = e.getLocation();
        return loc == null || loc.getLineNr() < 0 ? "" : " (line " + loc.getLineNr() + ", column " + loc.getColumnNr() + ")";
    }
}
