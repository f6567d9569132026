package io.vqwen.kafka;

import java.lang.reflect.InvocationTargetException;

/**
 * Entry point of the broker's child JVM: {@code kafka.Kafka} plus a watch on the parent process. When the JVM that
 * started the broker dies, even by SIGKILL (a crashed test run, a killed {@code ./vqwen up}), the broker shuts down
 * too instead of holding its port forever.
 *
 * <p>Arguments: the parent's pid, then kafka.Kafka's own arguments (the server.properties path).
 */
public final class BrokerMain {
    private BrokerMain() {
    }

    public static void main(String[] args) throws Throwable {
        long parent = Long.parseLong(args[0]);
        ProcessHandle.of(parent).ifPresentOrElse(
                p -> p.onExit().thenRun(() -> {
                    // System.exit runs Kafka's shutdown hook: the same controlled shutdown as SIGTERM.
                    System.exit(0);
                }),
                () -> System.exit(0));
        String[] kafkaArgs = new String[args.length - 1];
        System.arraycopy(args, 1, kafkaArgs, 0, kafkaArgs.length);
        // Reflection: this class compiles without Kafka's Scala classes on the classpath of its callers.
        try {
            Class.forName("kafka.Kafka").getMethod("main", String[].class).invoke(null, (Object) kafkaArgs);
        } catch (InvocationTargetException e) {
            throw e.getCause();
        }
    }
}
