/**
 * The greedy ids llama2.c gives for the real pretrained stories260K (fp32 argmax; ../shared/models/stories260K/README.md
 * records them, with how the checkpoint was recovered), for the tests that decode it on each backend.
 */

/** The first 40 ids generated from BOS alone (input [1]). */
export const STORY_FROM_BOS = [
  403, 407, 261, 378, 432, 383, 286, 261, 376, 298, 315, 421, 395, 317, 426, 338, 401, 396, 267, 337, 410, 408, 419,
  292, 411, 322, 265, 282, 295, 433, 426, 385, 328, 432, 358, 394, 261, 370, 432, 352,
];

/** The 40 ids after "Once upon a time" ([1, 403, 407, 261, 378] with BOS). */
export const STORY_AFTER_PROMPT = [
  432, 383, 286, 261, 376, 298, 315, 421, 395, 317, 426, 338, 401, 396, 267, 337, 410, 408, 419, 292, 411, 322, 265,
  282, 295, 433, 426, 385, 328, 432, 358, 394, 261, 370, 432, 352, 266, 268, 388, 426,
];
