"""What the tests share that is not a test or a fixture: paths and runners (helpers), the output
contract, lock-file reading, the generated image trees, and the stand-in `aws` of the EMR tests."""
