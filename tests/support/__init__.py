"""What the tests share: reading factories, the seed's sample, waiting helpers, private servers,
network namespaces, and the real service's processes for end-to-end and fault tests."""
