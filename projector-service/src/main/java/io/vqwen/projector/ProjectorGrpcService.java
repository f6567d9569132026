package io.vqwen.projector;

import io.quarkus.grpc.GrpcService;
import io.smallrye.mutiny.Uni;
import io.vqwen.proto.v1.EmbedRequest;
import io.vqwen.proto.v1.EmbedResponse;
import io.vqwen.proto.v1.FetchRequest;
import io.vqwen.proto.v1.FetchResponse;
import io.vqwen.proto.v1.InfoRequest;
import io.vqwen.proto.v1.InfoResponse;
import io.vqwen.proto.v1.ProjectRequest;
import io.vqwen.proto.v1.ProjectResponse;
import io.vqwen.proto.v1.ProjectorService;
import io.vqwen.service.GrpcErrors;
import io.vqwen.service.ServiceState;
import jakarta.inject.Inject;

/** gRPC ProjectorService: CLIP features -> image embeddings; image bytes -> handles (Embed) -> embeddings (Fetch). */
@GrpcService
public class ProjectorGrpcService implements ProjectorService {
    @Inject
    ProjectorModel model;

    @Inject
    ProjectorStore store;

    @Inject
    ServiceState state;

    @Override
    public Uni<ProjectResponse> project(ProjectRequest request) {
        return Uni.createFrom().deferred(() -> {
            state.enter();
            return Uni.createFrom().completionStage(() -> model.project(request)).onTermination().invoke(state::exit);
        }).onFailure().transform(GrpcErrors::toStatus);
    }

    @Override
    public Uni<EmbedResponse> embed(EmbedRequest request) {
        return Uni.createFrom().deferred(() -> {
            state.enter();
            return Uni.createFrom().completionStage(() -> store.embed(request)).onTermination().invoke(state::exit);
        }).onFailure().transform(GrpcErrors::toStatus);
    }

    @Override
    public Uni<FetchResponse> fetch(FetchRequest request) {
        return Uni.createFrom().completionStage(() -> store.fetch(request)).onFailure().transform(GrpcErrors::toStatus);
    }

    @Override
    public Uni<InfoResponse> info(InfoRequest request) {
        return Uni.createFrom().item(model::info).onFailure().transform(GrpcErrors::toStatus);
    }
}
