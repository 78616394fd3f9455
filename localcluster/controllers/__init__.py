"""localcluster's built-in controllers: garbage collection, ReplicaSet, Deployment, Endpoints, Job."""
