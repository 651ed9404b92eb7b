"""The tests of everything that talks to AWS (bootstrap/, S3), with the real AWS CLI against moto."""
