package io.vqwen.telemetry;

import io.smallrye.config.ConfigSourceInterceptor;
import io.smallrye.config.ConfigSourceInterceptorContext;
import io.smallrye.config.ConfigValue;
import jakarta.annotation.Priority;

/**
 * Tracing is on exactly when an OTLP endpoint is configured. Without one, {@code quarkus.otel.sdk.disabled} (a
 * runtime property) answers {@code true}, so the services start the no-op OpenTelemetry: no exporter, no span
 * processor, no spans kept. Otherwise Quarkus would export to its default {@code localhost:4317} and log a
 * connection failure every few seconds on every machine that runs no collector.
 * <p>
 * An explicit {@code quarkus.otel.sdk.disabled} / {@code OTEL_SDK_DISABLED} always wins. The endpoint counts from
 * any real source ({@code OTEL_EXPORTER_OTLP_[TRACES_]ENDPOINT}, {@code quarkus.otel.exporter.otlp.[traces.]endpoint}
 * as a property or variable), not from built-in defaults.
 */
@Priority(TracingSwitch.PRIORITY)
public final class TracingSwitch implements ConfigSourceInterceptor {
    static final int PRIORITY = 3000;
    static final String SDK_DISABLED = "quarkus.otel.sdk.disabled";
    static final String[] ENDPOINTS = {"quarkus.otel.exporter.otlp.endpoint", "quarkus.otel.exporter.otlp.traces.endpoint"};
    /** Sources at or below this ordinal hold defaults (SmallRye's and Quarkus's default-value sources). */
    private static final int DEFAULTS = 0;

    @Override
    public ConfigValue getValue(ConfigSourceInterceptorContext context, String name) {
        ConfigValue v = context.proceed(name);
        if (!SDK_DISABLED.equals(name) || configured(v)) return v;
        boolean endpoint = false;
        for (String e : ENDPOINTS) endpoint |= configured(context.proceed(e));
        return ConfigValue.builder().withName(name).withValue(Boolean.toString(!endpoint))
                .withConfigSourceName("vqwen TracingSwitch (" + (endpoint ? "an OTLP endpoint is set" : "no OTLP endpoint") + ")")
                .withConfigSourceOrdinal(DEFAULTS).build();
    }

    static boolean configured(ConfigValue v) {
        return v != null && v.getValue() != null && !v.getValue().isBlank() && v.getConfigSourceOrdinal() > DEFAULTS;
    }
}
