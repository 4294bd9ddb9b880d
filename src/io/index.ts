export { load, save, LoadOptions } from './serialization';
export { loadSafetensors, saveSafetensors } from './safetensors';
export { downloadUrlToFile, torchHome, checkpointsDir, DownloadOptions } from './hub';
export { PyValue, PyConstant, pythonDicts, pythonState } from './pickle';
