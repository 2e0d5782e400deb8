# A Node base for an ocibuild image that can run Dockerfile RUN steps in a pod
# (deploy/kubernetes/job.yaml): bubblewrap for the sandbox, uidmap for newuidmap/newgidmap, and
# a subordinate id range for the `node` user (uid 1000) inside the pod's 65,536 ids.
# Build it with any builder that runs RUN, then: npm run image -- --base THIS_IMAGE
ARG NODE_IMAGE=registry.example/library/node:20-bookworm-slim
FROM ${NODE_IMAGE}
RUN apt-get update \
 && apt-get install -y --no-install-recommends bubblewrap uidmap \
 && rm -rf /var/lib/apt/lists/* \
 && echo 'node:1001:64535' >> /etc/subuid \
 && echo 'node:1001:64535' >> /etc/subgid
USER node
