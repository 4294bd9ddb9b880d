/** Every failure torchbridge reports: native (libtorch) errors and rejected arguments alike. */
export type TorchErrorCode =
  | 'INVALID_ARGUMENT' // rejected in TS before reaching libtorch
  | 'DISPOSED' // a disposed tensor or module was used
  | 'BUSY' // overlapping use of the same tensors (e.g. two steps at once)
  | 'DEVICE_UNAVAILABLE' // e.g. 'cuda' without a CUDA build or device
  | 'NATIVE_LOAD_FAILED' // the addon could not be loaded
  | 'IO_ERROR' // a file could not be read, written or downloaded
  | 'BAD_FILE' // a file is truncated, corrupt or not in a supported format
  | 'UNSAFE_PICKLE' // a checkpoint asks to construct a global that is not allowed
  | 'OUT_OF_MEMORY'
  | 'INDEX_ERROR'
  | 'VALUE_ERROR'
  | 'TYPE_ERROR'
  | 'NOT_IMPLEMENTED'
  | 'DISTRIBUTED' // the rendezvous or a collective failed: a lost rank, a timeout, a bad address
  | 'TORCH_ERROR'; // any other libtorch error

export class TorchError extends Error {
  readonly code: TorchErrorCode;

  constructor(message: string, code: TorchErrorCode = 'TORCH_ERROR') {
    super(message);
    this.name = 'TorchError';
    this.code = code;
  }
}
