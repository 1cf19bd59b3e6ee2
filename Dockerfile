# The llava-modal CLI in a container, serving a model over the OpenAI Chat Completions API (see README, "Serve it").
#   docker build -t llava-modal .                                     CPU runtime (default)
#   docker build -t llava-modal:cuda --build-arg TORCH_DEVICE=cuda .  CUDA runtime (run with --gpus all)
#   docker run --rm -p 8080:8080 -v /srv/models:/models:ro llava-modal serve --host 0.0.0.0 --model /models/llava-1.5-7b-hf
# Without --model it serves the toy model that ships in the repository.

ARG DOTNET_VERSION=10.0

FROM mcr.microsoft.com/dotnet/sdk:${DOTNET_VERSION} AS build
ARG TORCH_DEVICE=cpu
WORKDIR /src
# Restore first, from the project files only, so code edits do not refetch packages (libtorch is ~0.5 GB, CUDA's several GB).
COPY global.json Directory.Build.props Directory.Build.targets Directory.Packages.props ./
COPY src/ src/
RUN find src -type f ! -name '*.csproj' -delete \
 && dotnet restore src/Cli/LlavaModal.Cli.csproj -p:TorchDevice=${TORCH_DEVICE}
COPY src/ src/
COPY models/ models/
RUN dotnet publish src/Cli/LlavaModal.Cli.csproj -c Release -p:TorchDevice=${TORCH_DEVICE} --no-restore -o /app

# The ASP.NET Core runtime image: the server runs on Kestrel; libtorch comes with the published app.
FROM mcr.microsoft.com/dotnet/aspnet:${DOTNET_VERSION}
WORKDIR /app
COPY --from=build /app ./
# The native-library workaround writes its cache here (writable even with a read-only root filesystem and an emptyDir on /tmp).
ENV LLAVAMODAL_NATIVE_CACHE=/tmp/llavamodal-native
USER $APP_UID
EXPOSE 8080
ENTRYPOINT ["/app/llava-modal"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8080"]
