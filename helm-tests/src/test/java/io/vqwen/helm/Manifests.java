package io.vqwen.helm;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.fail;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.MappingIterator;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/** The documents helm template printed, with lookups by kind, name and pod labels. */
final class Manifests {

    static final ObjectMapper YAML = new ObjectMapper(new YAMLFactory());

    final List<JsonNode> docs;

    private Manifests(List<JsonNode> docs) {
        this.docs = docs;
    }

    static Manifests parse(String yaml) {
        List<JsonNode> docs = new ArrayList<>();
        try (MappingIterator<JsonNode> it = YAML.readerFor(JsonNode.class).readValues(yaml)) {
            while (it.hasNext()) {
                JsonNode doc = it.next();
                if (doc != null && doc.isObject() && doc.has("kind")) {
                    docs.add(doc);
                }
            }
        } catch (IOException e) {
            throw new AssertionError("helm template printed invalid YAML: " + e.getMessage(), e);
        }
        return new Manifests(docs);
    }

    List<JsonNode> ofKind(String kind) {
        return docs.stream().filter(d -> kind.equals(d.path("kind").asText())).toList();
    }

    Optional<JsonNode> find(String kind, String name) {
        return ofKind(kind).stream().filter(d -> name.equals(name(d))).findFirst();
    }

    static String name(JsonNode doc) {
        return doc.path("metadata").path("name").asText();
    }

    /** The Deployment whose pods carry app.kubernetes.io/component=module. */
    JsonNode deployment(String module) {
        List<JsonNode> found = ofKind("Deployment").stream()
                .filter(d -> module.equals(podLabels(d).get("app.kubernetes.io/component")))
                .toList();
        assertEquals(1, found.size(), "Deployments for component " + module);
        return found.getFirst();
    }

    /** Whether a Deployment's pods carry app.kubernetes.io/component=module. */
    boolean hasDeployment(String module) {
        return ofKind("Deployment").stream().anyMatch(d -> module.equals(podLabels(d).get("app.kubernetes.io/component")));
    }

    static JsonNode podSpec(JsonNode deployment) {
        return deployment.path("spec").path("template").path("spec");
    }

    static Map<String, String> podLabels(JsonNode deployment) {
        return strings(deployment.path("spec").path("template").path("metadata").path("labels"));
    }

    /** The container named after the module (the chart names each service's container so). */
    static JsonNode container(JsonNode deployment, String module) {
        for (JsonNode c : podSpec(deployment).path("containers")) {
            if (module.equals(c.path("name").asText())) {
                return c;
            }
        }
        return fail("Deployment " + name(deployment) + " has no container named " + module);
    }

    static Optional<JsonNode> env(JsonNode container, String name) {
        for (JsonNode e : container.path("env")) {
            if (name.equals(e.path("name").asText())) {
                return Optional.of(e);
            }
        }
        return Optional.empty();
    }

    static Optional<String> envValue(JsonNode container, String name) {
        return env(container, name).filter(e -> e.has("value")).map(e -> e.path("value").asText());
    }

    /** A container port given by number or by name, as probes and Services may refer to it. */
    static int containerPort(JsonNode container, JsonNode portRef) {
        if (portRef.isInt()) {
            return portRef.asInt();
        }
        for (JsonNode p : container.path("ports")) {
            if (portRef.asText().equals(p.path("name").asText())) {
                return p.path("containerPort").asInt();
            }
        }
        return fail("container " + container.path("name").asText() + " has no port named " + portRef.asText());
    }

    static Map<String, String> strings(JsonNode object) {
        Map<String, String> out = new LinkedHashMap<>();
        for (Map.Entry<String, JsonNode> e : object.properties()) {
            out.put(e.getKey(), e.getValue().asText());
        }
        return out;
    }

    /** True when every label the selector asks for is on the pod. An empty selector matches everything. */
    static boolean selects(Map<String, String> selector, Map<String, String> podLabels) {
        return selector.entrySet().stream().allMatch(e -> e.getValue().equals(podLabels.get(e.getKey())));
    }

    /** The chart's values as Helm merges them: values.yaml, then the -f file (maps merge, lists replace). */
    static JsonNode values(Path overlay) {
        return values(overlay, List.of());
    }

    /** values(overlay), then --set key.path=value overrides (plain dotted keys; values kept as strings). */
    static JsonNode values(Path overlay, List<String> sets) {
        try {
            JsonNode merged = YAML.readTree(Helm.CHART.resolve("values.yaml").toFile());
            if (overlay != null) {
                merge((ObjectNode) merged, YAML.readTree(overlay.toFile()));
            }
            for (String set : sets) {
                String[] kv = set.split("=", 2);
                String[] path = kv[0].split("\\.");
                ObjectNode node = (ObjectNode) merged;
                for (int i = 0; i < path.length - 1; i++) {
                    node = node.has(path[i]) && node.get(path[i]).isObject()
                            ? (ObjectNode) node.get(path[i]) : node.putObject(path[i]);
                }
                node.put(path[path.length - 1], kv[1]);
            }
            return merged;
        } catch (IOException e) {
            throw new AssertionError("cannot read values", e);
        }
    }

    private static void merge(ObjectNode into, JsonNode from) {
        for (Map.Entry<String, JsonNode> e : from.properties()) {
            JsonNode existing = into.get(e.getKey());
            if (existing instanceof ObjectNode target && e.getValue().isObject()) {
                merge(target, e.getValue());
            } else {
                into.set(e.getKey(), e.getValue());
            }
        }
    }
}
