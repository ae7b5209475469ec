"""The processing library: bytes in, results out (sniffing, image renditions, document text
and properties, labels). It imports no Django and reads no settings: limits come in as a
`limits.Limits`, and the workflow around it is `files.services.processing`."""
