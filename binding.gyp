{
  "targets": [
    {
      "target_name": "torchbridge",
      "sources": [
        "native/addon.cc",
        "native/args.cc",
        "native/errors.cc",
        "native/memory.cc",
        "native/tensor.cc",
        "native/autograd.cc",
        "native/runtime.cc",
        "native/random.cc",
        "native/nn/functional.cc",
        "native/nn/utils.cc",
        "native/nn/batchnorm.cc",
        "native/optim/adam.cc",
        "native/optim/sgd.cc",
        "native/optim/rmsprop.cc",
        "native/optim/lr_scheduler.cc",
        "native/io/serialization.cc",
        "native/data/dataloader.cc",
        "native/data/transforms.cc",
        "native/distributed.cc",
        "native/amp.cc",
        "native/worker.cc"
      ],
      "include_dirs": [
        "<!(node -p \"require('node-addon-api').include_dir\")",
        "<!@(node scripts/find-libtorch.js --include-dirs)"
      ],
      "defines": ["NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS"],
      "cflags!": ["-fno-exceptions", "-fno-rtti"],
      "cflags_cc!": ["-fno-exceptions", "-fno-rtti", "-std=gnu++17"],
      "cflags_cc": ["<!(node scripts/find-libtorch.js --cxx-standard-flag)", "-fexceptions", "-frtti", "-ffp-contract=off", "-fno-math-errno",
                    "<!@(node scripts/find-libtorch.js --cflags)"],
      "libraries": ["<!@(node scripts/find-libtorch.js --libs)"]
    }
  ]
}
