package io.vqwen.vision;

import io.quarkus.grpc.GrpcService;
import io.smallrye.mutiny.Uni;
import io.vqwen.proto.v1.EncodeRequest;
import io.vqwen.proto.v1.EncodeResponse;
import io.vqwen.proto.v1.InfoRequest;
import io.vqwen.proto.v1.InfoResponse;
import io.vqwen.proto.v1.VisionService;
import io.vqwen.service.GrpcErrors;
import io.vqwen.service.ServiceState;
import io.vqwen.service.TensorCodec;
import jakarta.inject.Inject;

/** gRPC VisionService: image bytes -> CLIP features. Runs nothing on the event loop; the encoder has its own thread. */
@GrpcService
public class VisionGrpcService implements VisionService {
    @Inject
    VisionModel model;

    @Inject
    ServiceState state;

    @Override
    public Uni<EncodeResponse> encode(EncodeRequest request) {
        return Uni.createFrom().deferred(() -> {
            state.enter();
            return Uni.createFrom().completionStage(model.submit(request.getImage().toByteArray()))
                    .map(e -> EncodeResponse.newBuilder()
                            .setFeatures(TensorCodec.encode(e.features(), e.rows(), e.cols(), request.getDtype()))
                            .setPreprocessMs(e.preprocessMs())
                            .setEncodeMs(e.encodeMs())
                            .build())
                    .onTermination().invoke(state::exit);
        }).onFailure().transform(GrpcErrors::toStatus);
    }

    @Override
    public Uni<InfoResponse> info(InfoRequest request) {
        return Uni.createFrom().item(model::info).onFailure().transform(GrpcErrors::toStatus);
    }
}
