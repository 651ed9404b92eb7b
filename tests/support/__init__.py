"""What the tests share that is not a test or a fixture: paths and runners (helpers), the output
contract, lock-file reading, the generated image trees, the moto server of the AWS tests and the
runners of the bootstrap scripts."""
