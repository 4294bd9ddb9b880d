export { load, save, loadSafetensors, saveSafetensors, LoadOptions } from './serialization';
export { downloadUrlToFile, torchHome, checkpointsDir, DownloadOptions } from './hub';
export { PyValue, PyConstant, pythonDicts, pythonState } from './pickle';
