/** What a tool can do to the world it reaches: it only reads, it writes, or it destroys. */
export type ToolClass = 'READ' | 'WRITE' | 'DESTRUCTIVE';
export const TOOL_CLASSES: readonly ToolClass[] = ['READ', 'WRITE', 'DESTRUCTIVE'];
