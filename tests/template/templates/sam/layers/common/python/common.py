GREETING = "hello from a layer"
