package io.vqwen.service;

import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.vqwen.engine.generate.QueueFullException;
import io.vqwen.engine.image.ImageException;
import io.vqwen.engine.pipeline.ImageNotFoundException;
import java.util.concurrent.CompletionException;
import java.util.concurrent.RejectedExecutionException;
import org.jboss.logging.Logger;

/** Engine exceptions -> gRPC status, with the engine's message (written for the caller) as the description. */
public final class GrpcErrors {
    private static final Logger LOG = Logger.getLogger(GrpcErrors.class);

    private GrpcErrors() {
    }

    public static StatusRuntimeException toStatus(Throwable t) {
        while (t instanceof CompletionException && t.getCause() != null) t = t.getCause();
        if (t instanceof StatusRuntimeException s) return s;
        // The message starts "image sha256:<hex>": callers that still have the image embed it again and retry.
        if (t instanceof ImageNotFoundException) return Status.NOT_FOUND.withDescription(t.getMessage()).asRuntimeException();
        if (t instanceof IllegalArgumentException || t instanceof ImageException) {
            return Status.INVALID_ARGUMENT.withDescription(t.getMessage()).asRuntimeException();
        }
        if (t instanceof QueueFullException || t instanceof RejectedExecutionException) {
            return Status.RESOURCE_EXHAUSTED.withDescription(t.getMessage()).asRuntimeException();
        }
        // Anything else is our bug or a backend failure: log it whole, tell the caller what it was.
        LOG.error("internal error", t);
        return Status.INTERNAL.withDescription(t.toString()).withCause(t).asRuntimeException();
    }
}
