package io.vqwen.worker;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.common.errors.TopicExistsException;

/** Creates the request, result and DLQ topics when absent; existing topics are left as they are. */
final class Topics {
    private Topics() {
    }

    /** @return the topics it created */
    static List<String> ensure(Admin admin, TopicsConfig cfg) throws ExecutionException, InterruptedException, TimeoutException {
        Set<String> existing = admin.listTopics().names().get(10, TimeUnit.SECONDS);
        Optional<Short> rf = cfg.replicationFactor() > 0 ? Optional.of(cfg.replicationFactor()) : Optional.empty();
        // Requests carry images inline and the DLQ keeps them: both take large records.
        Map<String, String> large = Map.of("max.message.bytes", Integer.toString(cfg.maxMessageBytes()));
        List<NewTopic> wanted = List.of(
                new NewTopic(cfg.topic().requests(), Optional.of(cfg.partitions()), rf).configs(large),
                new NewTopic(cfg.topic().results(), Optional.of(cfg.partitions()), rf),
                new NewTopic(cfg.topic().dlq(), Optional.of(cfg.partitions()), rf).configs(large));
        List<NewTopic> missing = wanted.stream().filter(t -> !existing.contains(t.name())).toList();
        List<String> created = new ArrayList<>();
        if (missing.isEmpty()) return created;
        var result = admin.createTopics(missing);
        for (var e : result.values().entrySet()) {
            try {
                e.getValue().get(30, TimeUnit.SECONDS);
                created.add(e.getKey());
            } catch (ExecutionException ex) {
                // Another replica created it between our list and create.
                if (!(ex.getCause() instanceof TopicExistsException)) throw ex;
            }
        }
        return created;
    }
}
