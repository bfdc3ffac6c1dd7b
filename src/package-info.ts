/** reg's version, and the npm package that installs the `reg` command (the npm name "reg" belongs to an unrelated tool). */
export const VERSION = '0.1.0';
export const PACKAGE_NAME = 'git-data-registry';
